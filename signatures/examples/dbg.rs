use palisade_signatures::{Engine, EngineOptions, Request, Scratch};
fn main() {
    let e = Engine::bundled(EngineOptions::default()).unwrap();
    let mut s = Scratch::default();
    for q in std::env::args().skip(1) {
        let v = e.inspect(&Request::new("GET", b"/get").query(q.as_bytes()), &mut s);
        println!("{q} -> {} {:?}", v.score, v.hits.iter().map(|h| h.rule_id.to_string()).collect::<Vec<_>>());
    }
}
