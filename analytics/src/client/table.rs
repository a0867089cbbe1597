//! Owns the bounded table of tracked clients: states in fixed-size chunks found
//! through an index by key, idle eviction, and compaction after a flood.
//!
//! Must not grow past `max` clients, and must not move a live client's state except
//! while compacting (slots handed out stay valid until their client is evicted).

use hashbrown::HashMap;

use super::{ClientKey, ClientRef, ClientState};

/// Slots per chunk of the client table: 4096 states of under 1 KiB, so a chunk is
/// a few MiB and the last one is never more than that short of full.
const CHUNK: usize = 4096;

/// Where a client's state lives in the table; valid until the client is evicted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot(u32);

/// The bounded table of tracked clients.
///
/// States live in fixed-size chunks and an index maps each key to its slot. A hash
/// map of the states themselves would size to a power of two: at a million clients
/// it is half empty, and every slot of slack costs a whole state (about 900 bytes);
/// here the slack is in the index, whose entries are 32 bytes. The engine also
/// looks a client up once per event and then reaches it by slot.
#[derive(Debug)]
pub struct Clients {
    index: HashMap<ClientKey, Slot>,
    chunks: Vec<Box<[ClientState]>>,
    /// Every slot of `chunks` not holding a client, lowest last (popped first).
    free: Vec<u32>,
    max: usize,
    /// Clients not tracked because the table was full.
    pub untracked: u64,
}

impl Clients {
    pub fn new(max: usize) -> Self {
        Self {
            index: HashMap::new(),
            chunks: Vec::new(),
            free: Vec::new(),
            max,
            untracked: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    pub fn get(&self, key: ClientRef<'_>) -> Option<&ClientState> {
        self.index.get(&key).map(|&s| self.at(s))
    }

    pub fn get_mut(&mut self, key: ClientRef<'_>) -> Option<&mut ClientState> {
        let s = *self.index.get(&key)?;
        Some(self.at_mut(s))
    }

    /// The state in `slot`.
    pub fn at(&self, slot: Slot) -> &ClientState {
        let i = slot.0 as usize;
        &self.chunks[i / CHUNK][i % CHUNK]
    }

    /// The state in `slot`, to update.
    pub fn at_mut(&mut self, slot: Slot) -> &mut ClientState {
        let i = slot.0 as usize;
        &mut self.chunks[i / CHUNK][i % CHUNK]
    }

    /// The slot of `key`, its state created if new and there is room. When the
    /// table is full, clients idle for `idle_ms / 4` are evicted first, which can
    /// move other clients' states: slots taken before this call are stale after it.
    pub fn entry(
        &mut self,
        key: ClientRef<'_>,
        now_ms: u64,
        window_ms: u64,
        idle_ms: u64,
    ) -> Option<Slot> {
        if let Some(&s) = self.index.get(&key) {
            return Some(s);
        }
        if self.index.len() >= self.max {
            self.evict_idle(now_ms, idle_ms / 4);
            if self.index.len() >= self.max {
                self.untracked += 1;
                return None;
            }
        }
        if self.free.is_empty() {
            self.grow();
        }
        let slot = Slot(self.free.pop()?);
        *self.at_mut(slot) = ClientState::new(now_ms, window_ms);
        self.index.insert(key.to_owned(), slot);
        Some(slot)
    }

    fn grow(&mut self) {
        let base = self.chunks.len() * CHUNK;
        self.chunks
            .push(vec![ClientState::default(); CHUNK].into_boxed_slice());
        self.free
            .extend((base..base + CHUNK).rev().map(|i| i as u32));
    }

    /// Forgets clients unseen for `idle_ms`; returns how many. When fewer than half
    /// the slots stay in use, the survivors move to the lowest chunks and the rest
    /// are given back, so memory follows the table down after a flood.
    pub fn evict_idle(&mut self, now_ms: u64, idle_ms: u64) -> usize {
        let before = self.index.len();
        let (chunks, free) = (&self.chunks, &mut self.free);
        self.index.retain(|_, s| {
            let i = s.0 as usize;
            let keep = chunks[i / CHUNK][i % CHUNK]
                .last_seen_ms
                .saturating_add(idle_ms)
                > now_ms;
            if !keep {
                free.push(s.0);
            }
            keep
        });
        let evicted = before - self.index.len();
        if evicted > 0 && self.index.len() < self.chunks.len() * CHUNK / 2 {
            self.compact();
        }
        evicted
    }

    /// Moves every client into the fewest chunks and frees the others.
    fn compact(&mut self) {
        let keep = self.index.len().div_ceil(CHUNK);
        if keep == self.chunks.len() {
            return;
        }
        let limit = (keep * CHUNK) as u32;
        let mut low: Vec<u32> = self.free.iter().copied().filter(|&i| i < limit).collect();
        low.sort_unstable_by(|a, b| b.cmp(a));
        let chunks = &mut self.chunks;
        for s in self.index.values_mut().filter(|s| s.0 >= limit) {
            // INVARIANT: `limit` covers at least as many slots as there are
            // clients, so there is a free slot below it for each one above it.
            let Some(to) = low.pop() else {
                unreachable!("compaction found no free slot below the limit")
            };
            let (from, dst) = (s.0 as usize, to as usize);
            chunks[dst / CHUNK][dst % CHUNK] = chunks[from / CHUNK][from % CHUNK].clone();
            *s = Slot(to);
        }
        chunks.truncate(keep);
        chunks.shrink_to_fit();
        self.free = low;
        self.free.shrink_to_fit();
        if self.index.len() < self.index.capacity() / 4 {
            self.index.shrink_to_fit();
        }
    }

    /// Heap bytes the table holds: the index, the chunks of states and the free
    /// list (subjects' and key ids' strings are not counted).
    pub fn table_bytes(&self) -> usize {
        self.index.allocation_size()
            + self.chunks.len() * CHUNK * std::mem::size_of::<ClientState>()
            + self.chunks.capacity() * std::mem::size_of::<Box<[ClientState]>>()
            + self.free.capacity() * std::mem::size_of::<u32>()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&ClientKey, &ClientState)> {
        self.index.iter().map(|(k, &s)| (k, self.at(s)))
    }
}
