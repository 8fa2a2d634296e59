//! Client CPU time, as the baselines and `sseek bench` measure it.

/// CPU seconds used by this process so far, all threads, from
/// `/proc/self/task/*/schedstat` (nanosecond resolution, unlike the 10 ms
/// ticks of `/proc/self/stat`). Threads that already exited are not counted,
/// which is why callers measure deltas around work done by long-lived
/// threads (rayon's pool). 0 where `/proc` is unavailable.
pub fn process_cpu_seconds() -> f64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return 0.0 };
    let mut ns: u64 = 0;
    for t in tasks.flatten() {
        if let Ok(s) = std::fs::read_to_string(t.path().join("schedstat")) {
            ns += s.split_whitespace().next().and_then(|x| x.parse::<u64>().ok()).unwrap_or(0);
        }
    }
    ns as f64 / 1e9
}

/// CPU seconds used by the calling thread so far, from
/// `/proc/thread-self/schedstat` (nanoseconds): what single-thread
/// throughput figures divide by, as other load on the machine slows the
/// wall clock far more than it does this. `None` where `/proc` is unavailable.
pub fn thread_cpu_seconds() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = s.split_whitespace().next()?.parse().ok()?;
    Some(ns as f64 / 1e9)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kernel adds a running thread's time to these counters at
    /// scheduler ticks and switches, so the test spins for several ticks
    /// (50 ms of wall clock) before it expects the thread's counter to have
    /// moved: a fresh test thread may still read 0 before its first tick.
    #[test]
    fn cpu_time_advances() {
        let (process, thread) = (process_cpu_seconds(), thread_cpu_seconds());
        let start = std::time::Instant::now();
        let mut x = 0u64;
        while start.elapsed() < std::time::Duration::from_millis(50) {
            for i in 0..10_000u64 {
                x = x.wrapping_mul(31).wrapping_add(i);
            }
            std::hint::black_box(x);
        }
        assert!(process_cpu_seconds() > process);
        if let (Some(a), Some(b)) = (thread, thread_cpu_seconds()) {
            assert!(b > a, "thread CPU time {a} s before 50 ms of spinning, {b} s after");
        }
    }
}
