//! Benign API traffic the bundled rules must pass: the shapes real APIs carry
//! (OData and JSON:API filters, sort and operator values, ISO dates, base64,
//! JWTs, data URIs of images, URLs to fetch or redirect to, templates, code
//! spans, numbers at type boundaries, SQL words in prose). A rule that blocks
//! one of these fails here, whatever it gains on attack corpora.

use crate::{Engine, EngineOptions, Request, Scratch};

const HEADERS: &[(&str, &[u8])] = &[
    ("Host", b"api.example.com"),
    (
        "User-Agent",
        b"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
    ),
    ("Accept", b"application/json"),
    ("Referer", b"https://app.example.com/reports?from=2024-01-01&to=2024-03-31"),
    (
        "Cookie",
        b"sid=s%3AyM2e1x8P.Xr4%2Bq9Kz; consent=analytics%3Dfalse%7Cads%3Dfalse; tz=Europe%2FLondon",
    ),
    ("X-Request-Id", b"0194f3a2-7c1e-7d4b-9a8f-3b2c1d0e4f5a"),
    ("traceparent", b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
];

fn engine() -> Engine {
    Engine::bundled(EngineOptions::default()).unwrap()
}

#[test]
fn query_strings_of_real_apis_pass() {
    let e = engine();
    let mut s = Scratch::default();
    let mut blocked = Vec::new();
    for q in [
        // OData.
        "$filter=Price%20le%20100%20and%20Category%20eq%20'Books'&$orderby=Name%20desc&$top=10&$skip=20&$select=Name,Price",
        "$filter=startswith(Name,'Mi')%20and%20year(BirthDate)%20eq%201990",
        "$filter=contains(tolower(Title),'rust')%20or%20Rating%20ge%204.5",
        "$filter=Created%20ge%202024-01-01T00:00:00Z%20and%20Status%20in%20('Open','Closed')",
        // JSON:API, Rails, Django styles.
        "filter[status]=active&filter[created_at][gte]=2024-01-01&page[size]=50&include=author,comments",
        "ids[]=1&ids[]=2&ids[]=3&sort=-updated_at,name&fields[articles]=title,body",
        "created_at__gte=2024-05-01&status__in=open,closed&ordering=-priority",
        // Sorting and operators as values.
        "sort=created_at%20desc&order=asc&orderBy=name&order_by=updated_at",
        "op=%3E%3D&value=10&op2=%3C%3D&value2=20&cmp=%21%3D&eq=%3D%3D",
        // Searches with SQL words.
        "q=union+station+parking&near=select+committee",
        "q=drop+shipping+from+china&category=order+by+phone",
        "q=it%27s+a+rock+%27n%27+roll+classic",
        // URLs to redirect to, fetch, or show.
        "redirect_uri=https%3A%2F%2Fapp.example.com%2Fcallback&state=af0ifjsldkj&response_type=code",
        "url=https%3A%2F%2Fcdn.example.com%2Fimages%2Fa.png&w=640&h=480",
        "next=%2Faccount%2Fsettings%3Ftab%3Dsecurity",
        "callback=https://hooks.example.com/webhooks/42?sig=abc",
        "image=https://images.example.org/u/1234/avatar.jpg&fallback=https://www.gravatar.com/avatar/0bc8",
        "page=2&file=report-2024.pdf&path=/docs/guide&template=invoice&lang=en-GB&theme=dark",
        // Tokens, hashes, encodings, numbers.
        "token=eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
        "sig=AbC%2BdEf%2FGhI%3D&data=SGVsbG8gd29ybGQh&sha=3f9a1c2e7b4d4e8a9c1f0a2b3c4d5e6f70819a2b",
        "max=2147483647&min=-2147483648&limit=4294967295&size=4294967296&bytes=2147483648",
        "amount=1e6&ratio=2.5e-3&lat=51.5074&lng=-0.1278&ip=10.0.0.1",
        "address=0x742d35Cc6634C0532925a3b844Bc454e4438f44e&chain=1",
        "callback=jQuery3510_1700000000000&_=1700000000001",
        "email=jane.o%27neil%40example.com&name=O%27Brien",
    ] {
        let req = Request::new("GET", b"/api/v1/items")
            .query(q.as_bytes())
            .headers(HEADERS);
        let v = e.inspect(&req, &mut s);
        if v.blocked {
            blocked.push(format!("{q}: {:?}", rule_ids(&v)));
        }
    }
    assert!(blocked.is_empty(), "blocked:\n{}", blocked.join("\n"));
}

fn rule_ids(v: &crate::Verdict) -> Vec<&str> {
    v.hits.iter().map(|h| &*h.rule_id).collect()
}

#[test]
fn json_bodies_of_real_apis_pass() {
    let e = engine();
    let mut s = Scratch::default();
    let mut blocked = Vec::new();
    for body in [
        r#"{"sort":"name","order":"desc","filter":{"status":{"in":["active","pending"]}}}"#,
        r#"{"conditions":[{"field":"age","operator":">=","value":18},{"field":"name","operator":"!=","value":""},{"op":"<=","v":5},{"op":"==","v":1}]}"#,
        r#"{"expression":"price * quantity - discount","format":"0.00"}"#,
        r#"{"description":"Drop-off at the Union Station; select a time slot and order by phone."}"#,
        r#"{"date":"2024-05-01T12:30:00.000Z","tz":"+02:00","duration":"PT1H30M","cron":"*/5 * * * *"}"#,
        r#"{"jwt":"eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJodHRwczovL2lkLmV4YW1wbGUuY29tIn0.c2lnbmF0dXJl"}"#,
        r#"{"avatar":"data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="}"#,
        r#"{"webhook_url":"https://hooks.slack.com/services/T000/B000/XXXX","callback":"https://example.com/cb?x=1"}"#,
        r#"{"path":"/var/www/html","dir":"uploads/2024/05","file":"invoice #42.pdf"}"#,
        r#"{"regex":"^[a-z0-9_-]{3,16}$","glob":"src/**/*.rs"}"#,
        r#"{"template":"Hello {{name}}, your order #{{order.id}} ships on {{date}}."}"#,
        r#"{"markdown":"Use `code` and **bold**; see [the docs](https://docs.example.com/a?b=c)."}"#,
        r#"{"note":"Customer said: \"it's broken\" -- please call back (ext. 42)."}"#,
        r#"{"address":{"line1":"1 Main St.","city":"O'Fallon","zip":"63366"},"phone":"+1 (555) 010-2030"}"#,
        r#"{"query":"shoes size:42 color:red -used","page":{"size":20,"cursor":"b2Zmc2V0PTIw"}}"#,
        r#"{"max":2147483647,"limit":"4294967295","big":"4294967296","bytes":"2147483648","min":"-2147483648"}"#,
    ] {
        let req = Request::new("POST", b"/api/v1/things")
            .headers(HEADERS)
            .body("application/json", body.as_bytes());
        let v = e.inspect(&req, &mut s);
        if v.blocked {
            blocked.push(format!("{body}: {:?}", rule_ids(&v)));
        }
    }
    assert!(blocked.is_empty(), "blocked:\n{}", blocked.join("\n"));
}
