//! `GET /api/stream`: server-sent events. Missed events first (after
//! `Last-Event-ID`), then live ones; a subscriber that falls too far behind gets
//! `reset` and carries on. Ends when the admin server shuts down.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use tokio::sync::broadcast::error::RecvError;

use crate::feed::{FeedEvent, reset};
use crate::state::AdminState;

pub async fn stream(
    State(s): State<AdminState>,
    headers: HeaderMap,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let last = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty());
    let sub = s.feed.subscribe(last);
    let stop = s.stopping.clone();
    let backlog = sub.backlog.into_iter();
    let stream = futures_util::stream::unfold(
        (backlog, sub.live, stop),
        |(mut backlog, mut live, stop)| async move {
            if let Some(ev) = backlog.next() {
                return Some((Ok(event(&ev)), (backlog, live, stop)));
            }
            let ev = tokio::select! {
                () = stop.cancelled() => return None,
                r = live.recv() => match r {
                    Ok(ev) => ev,
                    Err(RecvError::Lagged(_)) => reset(),
                    Err(RecvError::Closed) => return None,
                },
            };
            Some((Ok(event(&ev)), (backlog, live, stop)))
        },
    );
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

fn event(ev: &Arc<FeedEvent>) -> Event {
    let e = Event::default().event(ev.event).data(&ev.data);
    match &ev.id {
        Some(id) => e.id(id),
        None => e,
    }
}
