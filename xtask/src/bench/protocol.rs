//! The benchmark program's console protocol (userspace/bench): the `cyphera-bench:` lines it
//! prints between `begin` and `end`, read out of a console that also carries kernel messages.
//!
//! ```text
//! cyphera-bench: begin arch=x86_64 mode=full
//! cyphera-bench: result name=getppid ns=391.3 iters=200000
//! cyphera-bench: missing name=ctxswitch reason=ENOSYS
//! cyphera-bench: end
//! ```

use crate::error::{Result, bail};

/// What starts every line of the protocol.
pub const PREFIX: &str = "cyphera-bench: ";

/// One row's outcome in one run.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// Nanoseconds of guest time per operation, averaged over `iters` operations.
    Measured { ns: f64, iters: u64 },
    /// The program could not measure it on this kernel (a missing system call, say).
    Missing { reason: String },
}

/// Everything one run of the benchmark reported.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    /// `arch=` of the `begin` line: the architecture the program was built for.
    pub arch: String,
    /// `mode=` of the `begin` line: `full` or `quick`.
    pub mode: String,
    /// The rows in the order printed.
    pub rows: Vec<(String, Value)>,
}

impl Report {
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.rows.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// How many rows were measured and how many reported missing.
    pub fn counts(&self) -> (usize, usize) {
        let measured = self
            .rows
            .iter()
            .filter(|(_, v)| matches!(v, Value::Measured { .. }))
            .count();
        (measured, self.rows.len() - measured)
    }
}

/// The value of `key=` among `words`.
fn field<'a>(words: &[&'a str], key: &str) -> Option<&'a str> {
    words
        .iter()
        .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
}

/// Reads the report out of a whole console transcript. Lines without the prefix (kernel messages,
/// `cyphera:` lines, the boot chatter of either kernel) are ignored; the prefix may follow a
/// partial line some other writer left. A malformed protocol line is an error, not skipped: it
/// means the program and this parser disagree, and a silently dropped row would look missing.
pub fn parse(console: &str) -> Result<Report> {
    let mut report: Option<Report> = None;
    let mut ended = false;
    for line in console.lines() {
        let Some(at) = line.find(PREFIX) else {
            continue;
        };
        let body = line[at + PREFIX.len()..].trim_end();
        let words: Vec<&str> = body.split_whitespace().collect();
        let Some((&kind, args)) = words.split_first() else {
            bail!("empty benchmark line {line:?}");
        };
        if ended {
            bail!("benchmark line after `end`: {line:?}");
        }
        if kind == "begin" {
            if report.is_some() {
                bail!("a second `begin` line (did the program start twice?): {line:?}");
            }
            let (Some(arch), Some(mode)) = (field(args, "arch"), field(args, "mode")) else {
                bail!("`begin` needs arch= and mode=: {line:?}");
            };
            report = Some(Report {
                arch: arch.to_string(),
                mode: mode.to_string(),
                rows: Vec::new(),
            });
            continue;
        }
        let Some(current) = report.as_mut() else {
            bail!("benchmark line before `begin`: {line:?}");
        };
        let value = match kind {
            "end" => {
                ended = true;
                continue;
            }
            "result" => {
                let ns = field(args, "ns")
                    .and_then(|v| v.parse::<f64>().ok())
                    .filter(|ns| ns.is_finite() && *ns >= 0.0);
                let iters = field(args, "iters")
                    .and_then(|v| v.parse::<u64>().ok())
                    .filter(|&n| n > 0);
                let (Some(ns), Some(iters)) = (ns, iters) else {
                    bail!(
                        "`result` needs ns= (a non-negative number) and iters= (a positive count): {line:?}"
                    );
                };
                Value::Measured { ns, iters }
            }
            "missing" => {
                // The reason is the rest of the line, so that it may contain spaces.
                let reason = body
                    .find(" reason=")
                    .map(|i| body[i + " reason=".len()..].trim())
                    .filter(|r| !r.is_empty())
                    .unwrap_or("no reason given");
                Value::Missing {
                    reason: reason.to_string(),
                }
            }
            other => bail!("unknown benchmark line kind `{other}`: {line:?}"),
        };
        let Some(name) = field(args, "name").filter(|n| !n.is_empty()) else {
            bail!("`{kind}` needs name=: {line:?}");
        };
        if current.get(name).is_some() {
            bail!("row `{name}` reported twice: {line:?}");
        }
        current.rows.push((name.to_string(), value));
    }
    match report {
        None => bail!("no `{PREFIX}begin` line: the benchmark program did not start"),
        Some(_) if !ended => bail!("no `{PREFIX}end` line: the benchmark did not finish"),
        Some(report) => Ok(report),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_and_missing_rows_are_read_among_kernel_lines() {
        let console = "\
[    0.000000] Linux version 6.1.0
cyphera: something the kernel says
cyphera-bench: begin arch=x86_64 mode=full\r
cyphera-bench: result name=getppid ns=391.3 iters=200000
[INFO ] a log record
partialcyphera-bench: result name=stat ns=1200 iters=5000
cyphera-bench: missing name=ctxswitch reason=ENOSYS (no sched_yield)
cyphera-bench: missing name=stat2
cyphera-bench: end
cyphera: system power off
";
        let r = parse(console).unwrap();
        assert_eq!((r.arch.as_str(), r.mode.as_str()), ("x86_64", "full"));
        assert_eq!(
            r.rows,
            [
                (
                    "getppid".to_string(),
                    Value::Measured {
                        ns: 391.3,
                        iters: 200000
                    }
                ),
                (
                    "stat".to_string(),
                    Value::Measured {
                        ns: 1200.0,
                        iters: 5000
                    }
                ),
                (
                    "ctxswitch".to_string(),
                    Value::Missing {
                        reason: "ENOSYS (no sched_yield)".into()
                    }
                ),
                (
                    "stat2".to_string(),
                    Value::Missing {
                        reason: "no reason given".into()
                    }
                ),
            ]
        );
        assert_eq!(r.counts(), (2, 2));
        assert_eq!(r.get("stat"), Some(&r.rows[1].1));
        assert_eq!(r.get("boot"), None);
    }

    #[test]
    fn protocol_violations_are_errors() {
        let bad = |text: &str| parse(text).unwrap_err().to_string();
        assert!(bad("hello\n").contains("no `cyphera-bench: begin`"));
        assert!(bad("cyphera-bench: begin arch=a mode=full\n").contains("did not finish"));
        assert!(bad("cyphera-bench: result name=x ns=1 iters=1\n").contains("before `begin`"));
        let wrap = |mid: &str| {
            format!("cyphera-bench: begin arch=a mode=quick\n{mid}\ncyphera-bench: end\n")
        };
        assert!(bad(&wrap("cyphera-bench: result name=x ns=abc iters=1")).contains("ns="));
        assert!(bad(&wrap("cyphera-bench: result name=x ns=-1 iters=1")).contains("ns="));
        assert!(bad(&wrap("cyphera-bench: result name=x ns=NaN iters=1")).contains("ns="));
        assert!(bad(&wrap("cyphera-bench: result name=x ns=1 iters=0")).contains("iters="));
        assert!(bad(&wrap("cyphera-bench: result ns=1 iters=1")).contains("name="));
        assert!(bad(&wrap("cyphera-bench: frobnicate name=x")).contains("unknown"));
        assert!(bad(&wrap("cyphera-bench: ")).contains("empty"));
        assert!(
            bad(&wrap(
                "cyphera-bench: result name=x ns=1 iters=1\ncyphera-bench: missing name=x"
            ))
            .contains("twice")
        );
        assert!(bad(&wrap("cyphera-bench: begin arch=a mode=quick")).contains("second"));
        assert!(bad(&format!("{}cyphera-bench: end\n", wrap(""))).contains("after `end`"));
        assert!(bad("cyphera-bench: begin arch=a\ncyphera-bench: end\n").contains("mode="));
    }

    #[test]
    fn an_empty_run_is_a_valid_report() {
        let r = parse("cyphera-bench: begin arch=aarch64 mode=quick\ncyphera-bench: end").unwrap();
        assert!(r.rows.is_empty());
        assert_eq!(r.counts(), (0, 0));
    }
}
