//! `explain`: which rules a query string's parameters or a value trip, one
//! parameter at a time, for working on rules.
//!
//! ```text
//! cargo run -p palisade-signatures --release --example explain -- 'a=1&b=2' ['{"json":"body"}']
//! ```

use palisade_signatures::{Engine, EngineOptions, Request, Scratch};

fn main() -> anyhow::Result<()> {
    let engine = Engine::bundled(EngineOptions::default())?;
    let mut scratch = Scratch::default();
    let mut args = std::env::args().skip(1);
    if let Some(q) = args.next() {
        for pair in q.split('&') {
            let v = engine.inspect(
                &Request::new("GET", b"/").query(pair.as_bytes()),
                &mut scratch,
            );
            let ids: Vec<&str> = v.hits.iter().map(|h| &*h.rule_id).collect();
            println!("{:>5} {pair} {ids:?}", if v.blocked { "BLOCK" } else { "" });
        }
    }
    if let Some(body) = args.next() {
        let v = engine.inspect(
            &Request::new("POST", b"/").body("application/json", body.as_bytes()),
            &mut scratch,
        );
        let ids: Vec<&str> = v.hits.iter().map(|h| &*h.rule_id).collect();
        println!("{:>5} {body} {ids:?}", if v.blocked { "BLOCK" } else { "" });
    }
    Ok(())
}
