//! The block phase: is any of the client's keys in the block table? One lock-free
//! snapshot load per request, and nothing else when the table is empty.
//!
//! Must not tell the client why it is blocked: the reason is for operators.

use palisade_models::{DenyCode, Phase};

use crate::context::RequestCtx;
use crate::flow::Flow;
use crate::server::Shared;

pub(crate) fn block(ctx: &mut RequestCtx, shared: &Shared) -> Flow {
    if shared.blocks.is_empty() {
        return Flow::Continue;
    }
    let now_ms = shared.clock.now_ms();
    match shared.blocks.lookup(ctx.client(), now_ms) {
        None => Flow::Continue,
        Some(b) => {
            // Which block matched is for the operator: the deny log line carries it
            // at debug level here, the client only ever sees "blocked".
            tracing::debug!(target: "palisade::deny", block_id = b.id, scope = %b.scope, reason = &*b.reason, "matched block");
            Flow::deny(Phase::Block, DenyCode::Blocked)
        }
    }
}
