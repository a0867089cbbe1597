//! Owns endpoint templating: turning raw paths into templates (`/users/8812` →
//! `/users/{id}`), learned from traffic. A segment is an id when it looks like one
//! (number, UUID, hex or hash, ULID, base64-like token, email) or when the traffic
//! shows it takes too many values to be a name (`/users/alice`, `/users/bob`, … →
//! `/users/{name}`). Declared routes win: the engine uses their template as is.
//!
//! Must stay bounded (segments per path, literals per position, templates in all)
//! and must not allocate for a path whose template already exists.

use std::sync::Arc;

use hashbrown::HashMap;

/// A template's index; stable for the life of the process.
pub type TemplateId = u32;

/// Where paths beyond `max_templates` go.
pub const OVERFLOW: TemplateId = 0;
const OVERFLOW_TEMPLATE: &str = "/{*unlearned}";
/// Segments beyond this are folded into `{*rest}`.
const MAX_DEPTH: usize = 12;

/// What a path resolved to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resolved<'p> {
    pub template: TemplateId,
    /// The raw value of the template's last id segment, if it has one: the object
    /// a request addresses, for BOLA detection.
    pub object: Option<&'p str>,
}

/// The kinds of segment that are ids by their look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdKind {
    Number,
    Uuid,
    Hex,
    Ulid,
    Token,
    Email,
}

impl IdKind {
    fn param(self) -> &'static str {
        match self {
            IdKind::Email => "{email}",
            _ => "{id}",
        }
    }
}

/// Whether a segment is an id by its look alone.
pub fn classify(seg: &str) -> Option<IdKind> {
    let b = seg.as_bytes();
    if b.is_empty() {
        return None;
    }
    if b.len() <= 20 && b.iter().all(u8::is_ascii_digit) {
        return Some(IdKind::Number);
    }
    if b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
    {
        return Some(IdKind::Uuid);
    }
    let digits = b.iter().filter(|c| c.is_ascii_digit()).count();
    if b.len() >= 16 && digits > 0 && b.iter().all(u8::is_ascii_hexdigit) {
        return Some(IdKind::Hex);
    }
    if b.len() == 26
        && digits > 0
        && b.iter().all(|c| {
            c.is_ascii_digit()
                || (c.is_ascii_alphabetic()
                    && !matches!(c.to_ascii_uppercase(), b'I' | b'L' | b'O' | b'U'))
        })
    {
        return Some(IdKind::Ulid);
    }
    if let Some(at) = seg.find('@')
        && at > 0
        && seg[at + 1..].contains('.')
    {
        return Some(IdKind::Email);
    }
    if b.len() >= 20 && digits > 0 {
        let upper = b.iter().any(u8::is_ascii_uppercase);
        let lower = b.iter().any(u8::is_ascii_lowercase);
        let token_chars = b.iter().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'=' | b'+' | b'.' | b'~')
        });
        // A slug (`how-to-deploy-2024`) is all lowercase words: a name, not an id.
        let slug = !upper && seg.contains('-');
        if token_chars && !slug && (upper && lower || b.len() >= 32) {
            return Some(IdKind::Token);
        }
    }
    None
}

#[derive(Debug, Default)]
struct Node {
    literals: HashMap<Box<str>, u32>,
    /// The one child every id-like (or, once collapsed, every) segment goes to.
    param: Option<u32>,
    /// Too many distinct literals were seen here: every segment is a parameter.
    collapsed: bool,
    /// The template of paths that end here.
    template: Option<TemplateId>,
    /// This node's template text (`/users/{id}`).
    prefix: Box<str>,
    /// Whether this node's own segment is a parameter.
    is_param: bool,
}

/// The learned path structure.
#[derive(Debug)]
pub struct Templater {
    nodes: Vec<Node>,
    templates: Vec<Arc<str>>,
    /// Declared routes: their template and the index of their last `{param}`
    /// segment.
    declared: HashMap<Arc<str>, (TemplateId, Option<usize>)>,
    max_literals: usize,
    max_templates: usize,
    /// Templates folded into a parameter since last asked.
    merged: Vec<TemplateId>,
}

impl Templater {
    pub fn new(max_literals: usize, max_templates: usize) -> Self {
        Self {
            nodes: vec![Node::default()],
            templates: vec![Arc::from(OVERFLOW_TEMPLATE)],
            declared: HashMap::new(),
            max_literals: max_literals.max(1),
            max_templates: max_templates.max(2),
            merged: Vec::new(),
        }
    }

    /// The text of a template.
    pub fn template(&self, id: TemplateId) -> &Arc<str> {
        &self.templates[id as usize]
    }

    /// Templates learned (and declared) so far, including the overflow one.
    pub fn len(&self) -> usize {
        self.templates.len()
    }

    pub fn is_empty(&self) -> bool {
        self.templates.len() <= 1
    }

    /// Templates that were folded into a parameter (their paths now resolve to
    /// the parameter's template); the caller drops their state.
    pub fn take_merged(&mut self) -> Vec<TemplateId> {
        std::mem::take(&mut self.merged)
    }

    /// The template of a declared route, and the object its last parameter names.
    pub fn declared<'p>(&mut self, route: &Arc<str>, path: &'p str) -> Resolved<'p> {
        let (template, last_param) = match self.declared.get(route) {
            Some(&known) => known,
            None => {
                let id = self.templates.len() as TemplateId;
                self.templates.push(route.clone());
                // The object is the path segment where the route has its last
                // `{param}` (a `{*rest}` catch-all names no single object); found
                // once per route, not per request.
                let last_param = route
                    .split('/')
                    .enumerate()
                    .filter(|(_, s)| s.starts_with('{') && !s.starts_with("{*"))
                    .map(|(i, _)| i)
                    .last();
                self.declared.insert(route.clone(), (id, last_param));
                (id, last_param)
            }
        };
        let object = last_param
            .and_then(|i| segment(path, i))
            .filter(|s| !s.is_empty());
        Resolved { template, object }
    }

    /// The learned template of a raw path (without its query string).
    pub fn resolve<'p>(&mut self, path: &'p str) -> Resolved<'p> {
        let mut node = 0usize;
        let mut object = None;
        let mut depth = 0;
        let segments = path.split('/').filter(|s| !s.is_empty());
        for seg in segments {
            depth += 1;
            if depth > MAX_DEPTH {
                match self.child_rest(node) {
                    Some(n) => node = n,
                    None => return overflow(object),
                }
                break;
            }
            let kind = classify(seg);
            let next = if let Some(kind) = kind {
                self.param_child(node, kind.param())
            } else if self.nodes[node].collapsed {
                self.param_child(node, "{name}")
            } else if let Some(&n) = self.nodes[node].literals.get(seg) {
                Some(n as usize)
            } else if self.nodes[node].literals.len() >= self.max_literals {
                self.collapse(node);
                self.param_child(node, "{name}")
            } else {
                self.literal_child(node, seg)
            };
            match next {
                Some(n) => node = n,
                None => return overflow(object),
            }
            if self.nodes[node].is_param {
                object = Some(seg);
            }
        }
        let template = match self.nodes[node].template {
            Some(t) => t,
            None => {
                if self.templates.len() >= self.max_templates {
                    return overflow(object);
                }
                let id = self.templates.len() as TemplateId;
                let text: Arc<str> = if self.nodes[node].prefix.is_empty() {
                    Arc::from("/")
                } else {
                    Arc::from(&*self.nodes[node].prefix)
                };
                self.templates.push(text);
                self.nodes[node].template = Some(id);
                id
            }
        };
        Resolved { template, object }
    }

    fn new_node(&mut self, parent: usize, seg: &str, is_param: bool) -> Option<usize> {
        // Nodes without a template yet are bounded by the same budget as templates,
        // times the depth a path can have.
        if self.nodes.len() >= self.max_templates * MAX_DEPTH {
            return None;
        }
        let prefix = format!("{}/{seg}", self.nodes[parent].prefix).into_boxed_str();
        self.nodes.push(Node {
            prefix,
            is_param,
            ..Node::default()
        });
        Some(self.nodes.len() - 1)
    }

    fn literal_child(&mut self, node: usize, seg: &str) -> Option<usize> {
        let n = self.new_node(node, seg, false)?;
        self.nodes[node].literals.insert(seg.into(), n as u32);
        Some(n)
    }

    fn param_child(&mut self, node: usize, name: &str) -> Option<usize> {
        if let Some(p) = self.nodes[node].param {
            return Some(p as usize);
        }
        let n = self.new_node(node, name, true)?;
        self.nodes[node].param = Some(n as u32);
        Some(n)
    }

    fn child_rest(&mut self, node: usize) -> Option<usize> {
        self.param_child(node, "{*rest}")
    }

    /// Marks `node` as a parameter position and reports the templates under its
    /// literal children as merged.
    fn collapse(&mut self, node: usize) {
        self.nodes[node].collapsed = true;
        let mut stack: Vec<u32> = self.nodes[node].literals.values().copied().collect();
        while let Some(n) = stack.pop() {
            let n = &self.nodes[n as usize];
            if let Some(t) = n.template {
                self.merged.push(t);
            }
            stack.extend(n.literals.values().copied());
            stack.extend(n.param);
        }
        // The children stay allocated (ids are stable) but are never reached again.
        self.nodes[node].literals = HashMap::new();
    }
}

/// The `i`th `/`-separated piece of `path` (as `path.split('/').nth(i)`, in one
/// pass over the bytes).
fn segment(path: &str, i: usize) -> Option<&str> {
    // Paths are short: a plain byte loop beats a searcher's set-up per call.
    let b = path.as_bytes();
    let mut start = 0;
    for _ in 0..i {
        start += b[start..].iter().position(|&c| c == b'/')? + 1;
    }
    let end = b[start..]
        .iter()
        .position(|&c| c == b'/')
        .map_or(b.len(), |e| start + e);
    // Both ends sit next to an ASCII '/' (or the ends of the path): char boundaries.
    path.get(start..end)
}

fn overflow(object: Option<&str>) -> Resolved<'_> {
    Resolved {
        template: OVERFLOW,
        object,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(tp: &mut Templater, path: &str) -> String {
        let r = tp.resolve(path);
        tp.template(r.template).to_string()
    }

    #[test]
    fn ids_by_their_look() {
        assert_eq!(classify("8812"), Some(IdKind::Number));
        assert_eq!(
            classify("3f2504e0-4f89-11d3-9a0c-0305e82c3301"),
            Some(IdKind::Uuid)
        );
        assert_eq!(
            classify("9f86d081884c7d659a2feaa0c55ad015"),
            Some(IdKind::Hex)
        );
        assert_eq!(classify("01ARZ3NDEKTSV4RRFFQ69G5FAV"), Some(IdKind::Ulid));
        assert_eq!(classify("alice@example.com"), Some(IdKind::Email));
        assert_eq!(classify("dGhpcyBpcyBhIHRva2VuMTIz"), Some(IdKind::Token));
        for name in [
            "users",
            "v1",
            "how-to-deploy-palisade-2024",
            "profile",
            "me",
        ] {
            assert_eq!(classify(name), None, "{name}");
        }
    }

    #[test]
    fn templates_paths_and_names_the_object() {
        let mut tp = Templater::new(50, 1000);
        assert_eq!(t(&mut tp, "/users/8812"), "/users/{id}");
        assert_eq!(t(&mut tp, "/users/17/orders/9"), "/users/{id}/orders/{id}");
        assert_eq!(t(&mut tp, "/users/me"), "/users/me");
        assert_eq!(t(&mut tp, "/"), "/");
        assert_eq!(t(&mut tp, "/users/8812/"), "/users/{id}");
        let r = tp.resolve("/users/17/orders/9");
        assert_eq!(r.object, Some("9"));
        assert_eq!(tp.resolve("/users/me").object, None);
        // The same template resolves to the same id without growing anything.
        let before = tp.len();
        let a = tp.resolve("/users/1").template;
        let b = tp.resolve("/users/2").template;
        assert_eq!(a, b);
        assert_eq!(tp.len(), before);
    }

    #[test]
    fn high_cardinality_segments_become_parameters() {
        let mut tp = Templater::new(5, 1000);
        let first = tp.resolve("/profiles/alice").template;
        for name in ["bob", "carol", "dave", "erin"] {
            tp.resolve(&format!("/profiles/{name}"));
        }
        assert_eq!(t(&mut tp, "/profiles/frank"), "/profiles/{name}");
        assert_eq!(t(&mut tp, "/profiles/alice"), "/profiles/{name}");
        assert!(tp.take_merged().contains(&first));
        assert_eq!(tp.resolve("/profiles/zed").object, Some("zed"));
    }

    #[test]
    fn declared_routes_win_and_name_their_object() {
        let mut tp = Templater::new(50, 1000);
        let route: Arc<str> = Arc::from("/api/users/{user}/orders/{order}");
        let r = tp.declared(&route, "/api/users/alice/orders/77");
        assert_eq!(
            &**tp.template(r.template),
            "/api/users/{user}/orders/{order}"
        );
        assert_eq!(r.object, Some("77"));
        let files: Arc<str> = Arc::from("/files/{*rest}");
        assert_eq!(tp.declared(&files, "/files/a/b").object, None);
    }

    #[test]
    fn segments_are_what_split_gives() {
        for path in ["/a/b/c", "/a//b/", "", "/", "a/b", "/users/17/orders/9"] {
            for i in 0..6 {
                assert_eq!(segment(path, i), path.split('/').nth(i), "{path:?} {i}");
            }
        }
    }

    #[test]
    fn stays_bounded() {
        let mut tp = Templater::new(1000, 10);
        for i in 0..100 {
            tp.resolve(&format!("/a{i}"));
        }
        assert_eq!(tp.len(), 10);
        assert_eq!(tp.resolve("/zzz").template, OVERFLOW);
        let deep = "/a".repeat(40);
        let mut tp = Templater::new(50, 1000);
        assert!(t(&mut tp, &deep).ends_with("/{*rest}"));
    }
}
