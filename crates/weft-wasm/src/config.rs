//! Configuration: [`WasmHostConfig`] (once per host: engine, pool, cache, egress) and
//! [`Limits`] (per invocation: memory, time, fuel, output and log caps).

use std::path::PathBuf;
use std::time::Duration;

use weft_components::EgressGuard;

/// How the host is set up. `WasmHostConfig::default()` is a sensible production setting
/// without a disk cache.
#[derive(Debug, Clone)]
pub struct WasmHostConfig {
    /// Where compiled components (`.cwasm`) are kept between runs; `None` compiles every load.
    /// The directory must be writable by Weft alone: its files are loaded as native code.
    pub cache_dir: Option<PathBuf>,
    /// Decides which addresses `host.http-send` may reach.
    pub egress: EgressGuard,
    /// Invocations (and `describe` calls) running at once; the pooling allocator is sized for
    /// it, and further invocations wait for a slot instead of failing.
    pub max_concurrent: u32,
    /// Hard cap of one linear memory, whatever [`Limits::memory`] asks (pool slot size).
    pub max_memory: usize,
    /// Compile with fuel metering so [`Limits::fuel`] can apply. Costs some speed on tight
    /// loops; the epoch deadline bounds time either way.
    pub fuel: bool,
    /// How often the epoch ticks: the granularity of time limits and of guest yields.
    pub epoch_tick: Duration,
    /// Threads of the host's own runtime, where guests run (never the caller's runtime).
    pub threads: usize,
    /// Limits of the `describe()` call made when a component is loaded.
    pub describe_limits: Limits,
    /// Bytes of each pooled linear memory (and table) kept mapped between invocations: the
    /// pages an invocation wrote are found with Linux's `PAGEMAP_SCAN` and reset in place, so
    /// the next invocation does not fault them in again and no `madvise` shoots down other
    /// cores' TLBs. Memory past this budget is returned to the kernel as before. 0 turns it off.
    ///
    /// Used only where the machine has no swap: in wasmtime 48 a written page that the kernel
    /// swapped out is not seen by the scan and would keep its contents for the next
    /// invocation (bytecodealliance/wasmtime#14357). With swap, every invocation's pages are
    /// returned to the kernel.
    pub keep_resident: usize,
}

impl Default for WasmHostConfig {
    fn default() -> WasmHostConfig {
        WasmHostConfig {
            cache_dir: None,
            egress: EgressGuard::default(),
            max_concurrent: 32,
            max_memory: 1 << 30,
            fuel: false,
            epoch_tick: Duration::from_millis(10),
            threads: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2).max(2),
            describe_limits: Limits { time: Duration::from_secs(5), memory: 64 << 20, ..Limits::default() },
            keep_resident: 4 << 20,
        }
    }
}

/// What one invocation may use. Hitting any of them fails the step with an error of kind
/// `limit` naming the limit and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Linear memory, in bytes (default 128 MiB).
    pub memory: usize,
    /// Wall time of the whole invocation, host calls included (default 30 s).
    pub time: Duration,
    /// Fuel (roughly, instructions), when the host was built with `fuel: true`; `None` is
    /// unlimited.
    pub fuel: Option<u64>,
    /// Size of the returned JSON, in bytes (default 8 MiB, as the worker's step output).
    pub max_output: usize,
    /// Log lines kept; later lines are dropped, with one notice (default 1,000).
    pub max_log_lines: usize,
    /// Log bytes kept, all lines together (default 1 MiB).
    pub max_log_bytes: usize,
    /// Size of an outbound request or response body, in bytes (default 32 MiB).
    pub max_http_body: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            memory: 128 << 20,
            time: Duration::from_secs(30),
            fuel: None,
            max_output: 8 << 20,
            max_log_lines: 1_000,
            max_log_bytes: 1 << 20,
            max_http_body: 32 << 20,
        }
    }
}

/// `134217728` → `128 MiB`, `1500` → `1500 bytes`: how sizes read in limit errors.
pub(crate) fn show_bytes(n: usize) -> String {
    if n >= 1 << 20 && n.is_multiple_of(1 << 20) {
        format!("{} MiB", n >> 20)
    } else if n >= 1 << 10 && n.is_multiple_of(1 << 10) {
        format!("{} KiB", n >> 10)
    } else {
        format!("{n} bytes")
    }
}

/// `2 s`, `1500 ms`.
pub(crate) fn show_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 && d.as_secs() > 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{} ms", d.as_millis())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations_read_naturally() {
        assert_eq!(show_bytes(128 << 20), "128 MiB");
        assert_eq!(show_bytes(64 << 10), "64 KiB");
        assert_eq!(show_bytes(1500), "1500 bytes");
        assert_eq!(show_duration(Duration::from_secs(2)), "2 s");
        assert_eq!(show_duration(Duration::from_millis(1500)), "1500 ms");
    }
}
