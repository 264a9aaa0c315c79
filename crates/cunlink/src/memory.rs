//! Give memory freed after a burst back to the operating system.
//!
//! glibc's allocator keeps what a thread freed in that thread's arena for reuse;
//! it returns only the free top of the main heap on its own. A burst (the demo's
//! 4-day backfill, a large gateway upload, a long query) therefore leaves the
//! process at its peak size long after the data is gone. Measured on the demo a
//! minute after start: 197 MB resident while the allocator reported 6.5 MB in
//! use; `malloc_trim(0)` brought it to 44 MB. So every [`PERIOD`] the janitor asks
//! glibc to release free pages of every arena (`malloc_trim` walks the arenas'
//! free lists and `madvise`s whole free pages away; a few milliseconds on a heap
//! this size, and a page that is needed again costs one page fault).
//!
//! Trimming cannot give back a page that still holds one live allocation, and
//! glibc gives every thread that allocates under contention an arena of its own
//! (up to 8 per core): the blocking pool's threads each scatter their allocations
//! over their own arena, and after a burst every arena keeps a few live objects on
//! otherwise empty pages. So [`limit_arenas`] caps the arenas at the number of
//! cores. Measured on the demo (bench/demo-rss.sh, x86_64, 2 cores) after its
//! backfill and a trim: 91 MB resident (69.6 MB anonymous) with glibc's default,
//! 30.8 MB (9.6 MB anonymous) with 2 arenas. Per-thread caches (tcache) still serve
//! small allocations without taking an arena lock, so the cap costs little.
//!
//! Other C libraries (musl) and allocators return memory by themselves or not at
//! all; there the janitor does nothing.

use std::time::{Duration, Instant};

use tokio::sync::watch;

/// How often free memory is handed back.
pub const PERIOD: Duration = Duration::from_secs(30);

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod sys {
    use std::ffi::c_int;

    /// glibc's `M_ARENA_MAX` (malloc.h).
    const M_ARENA_MAX: c_int = -8;

    unsafe extern "C" {
        /// glibc: release free memory at the top of the heap and whole free pages
        /// inside every arena; returns 1 if anything was released.
        fn malloc_trim(pad: usize) -> c_int;
        /// glibc: set an allocator parameter; returns 1 on success.
        fn mallopt(param: c_int, value: c_int) -> c_int;
    }

    pub fn trim() -> bool {
        // SAFETY: malloc_trim only touches the allocator's own state, under its locks.
        unsafe { malloc_trim(0) == 1 }
    }

    pub fn set_arena_max(n: usize) -> bool {
        let n = c_int::try_from(n).unwrap_or(c_int::MAX);
        // SAFETY: mallopt only sets a field of the allocator's parameters, under its lock.
        unsafe { mallopt(M_ARENA_MAX, n) == 1 }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
mod sys {
    pub fn trim() -> bool {
        false
    }

    pub fn set_arena_max(_n: usize) -> bool {
        false
    }
}

/// Cap glibc's malloc arenas at the number of cores, unless the operator chose
/// a number (`MALLOC_ARENA_MAX`, or `arena_max` in `GLIBC_TUNABLES`), which wins.
/// Call it first in `main`, before any thread starts. Returns the cap it set.
pub fn limit_arenas() -> Option<usize> {
    let chosen = std::env::var_os("MALLOC_ARENA_MAX").is_some()
        || std::env::var("GLIBC_TUNABLES").is_ok_and(|t| t.contains("arena_max"));
    if chosen {
        return None;
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    sys::set_arena_max(cores).then_some(cores)
}

/// Return free heap memory to the OS now. True if the allocator released some.
pub fn trim() -> bool {
    sys::trim()
}

/// Trim every [`PERIOD`] until shutdown, on the blocking pool (the call takes
/// the allocator's locks).
pub fn spawn_janitor(mut shutdown: watch::Receiver<bool>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(PERIOD);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.changed() => return,
            }
            let _ = tokio::task::spawn_blocking(|| {
                let t = Instant::now();
                let released = trim();
                tracing::debug!(released, us = t.elapsed().as_micros() as u64, "malloc_trim");
            })
            .await;
        }
    });
}

#[cfg(all(test, target_os = "linux", target_env = "gnu"))]
mod tests {
    #[test]
    fn arenas_capped_at_cores_unless_the_operator_chose() {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let chosen = std::env::var_os("MALLOC_ARENA_MAX").is_some()
            || std::env::var("GLIBC_TUNABLES").is_ok_and(|t| t.contains("arena_max"));
        let expect = if chosen { None } else { Some(cores) };
        assert_eq!(super::limit_arenas(), expect);
    }
}
