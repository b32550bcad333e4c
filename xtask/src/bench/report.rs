//! The benchmark's results and their presentation: per row the median over runs of each kernel's
//! time and the Cyphera/Linux ratio (a row either kernel did not measure is shown as missing,
//! never estimated), rendered as a Markdown table, an SVG bar chart of the ratios and JSON with
//! every raw value.

use std::fmt::Write as _;

use crate::arch::Arch;

use super::protocol::{Report, Value};

/// The rows the program measures, in the order the table shows them.
pub const ROWS: &[&str] = &[
    "boot",
    "getppid",
    "write-devnull",
    "read-devzero",
    "open-close",
    "stat",
    "pipe-pingpong",
    "ctxswitch",
    "fork-exit-wait",
    "fork-exec-wait",
    "mmap-touch-munmap",
];

/// The extra row measured on the host: QEMU start to the first line of user space.
pub const BOOT_HOST: &str = "boot-host";

/// How guest time is kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Plain TCG: guest time follows the host clock, so results are noisy.
    Wall,
    /// `-icount shift=0,sleep=off`: guest time advances 1 ns per instruction, so results repeat
    /// exactly from run to run.
    Icount,
}

impl Mode {
    /// The name used in file names and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Wall => "tcg",
            Mode::Icount => "icount",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            Mode::Wall => "wall clock under TCG",
            Mode::Icount => {
                "icount (-icount shift=0,sleep=off: 1 ns of guest time per instruction)"
            }
        }
    }
}

/// One kernel's runs on one architecture.
#[derive(Clone, Debug, Default)]
pub struct KernelRuns {
    /// What was booted, for the reader (version, package).
    pub description: String,
    /// The QEMU command of its runs, as a shell line.
    pub command: String,
    /// The runs that reached `end`.
    pub reports: Vec<Report>,
    /// Why the other runs failed.
    pub failures: Vec<String>,
    /// What went wrong without spoiling the numbers (a guest that did not power off).
    pub warnings: Vec<String>,
    /// Host wall clock from starting QEMU to the `begin` line, one per boot that got there.
    pub boot_host_ns: Vec<f64>,
}

/// Everything measured on one architecture.
#[derive(Clone, Debug)]
pub struct ArchResult {
    pub arch: Arch,
    pub mode: Mode,
    pub quick: bool,
    /// Runs per kernel asked for.
    pub runs: usize,
    /// `qemu-system-* --version`, first line.
    pub qemu: String,
    pub machine: String,
    pub cpu: String,
    pub memory: String,
    pub cyphera: KernelRuns,
    pub linux: KernelRuns,
}

impl ArchResult {
    /// The stem of its report files: `x86_64-tcg`, `aarch64-icount-quick`.
    pub fn file_stem(&self) -> String {
        format!(
            "{}-{}{}",
            self.arch,
            self.mode.name(),
            if self.quick { "-quick" } else { "" }
        )
    }
}

/// One kernel's value for one row.
#[derive(Clone, Debug, PartialEq)]
pub struct Cell {
    /// The median over runs, when every run measured the row.
    pub median: Option<f64>,
    /// Every run's value, in run order (only the runs that measured it).
    pub samples: Vec<f64>,
    /// Why there is no median.
    pub missing: Option<String>,
}

/// One line of the table.
#[derive(Clone, Debug, PartialEq)]
pub struct Line {
    pub name: String,
    pub cyphera: Cell,
    pub linux: Cell,
    /// Cyphera/Linux, when both have a median.
    pub ratio: Option<f64>,
}

/// The median of `values` (the mean of the middle two for an even count); None if empty.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(v[n / 2]),
        _ => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
    }
}

/// Cyphera/Linux, if both exist and the quotient means something.
pub fn ratio(cyphera: Option<f64>, linux: Option<f64>) -> Option<f64> {
    match (cyphera, linux) {
        (Some(c), Some(l)) if l > 0.0 => Some(c / l),
        _ => None,
    }
}

/// A kernel's cell for a row the program reports. A row counts as measured only if every run
/// that finished measured it: a median over some runs would hide that the others could not.
fn guest_cell(k: &KernelRuns, name: &str) -> Cell {
    if k.reports.is_empty() {
        return Cell {
            median: None,
            samples: Vec::new(),
            // The failures themselves are listed under the table.
            missing: Some(if k.failures.is_empty() {
                "not run".into()
            } else {
                "no run finished".into()
            }),
        };
    }
    let mut samples = Vec::new();
    let mut reasons = Vec::new();
    for report in &k.reports {
        match report.get(name) {
            Some(Value::Measured { ns, .. }) => samples.push(*ns),
            Some(Value::Missing { reason }) => reasons.push(reason.clone()),
            None => reasons.push("not reported".into()),
        }
    }
    let missing = match reasons.first() {
        None => None,
        Some(reason) if samples.is_empty() => Some(reason.clone()),
        Some(reason) => Some(format!(
            "missing in {} of {} runs: {reason}",
            reasons.len(),
            k.reports.len()
        )),
    };
    Cell {
        median: if missing.is_none() {
            median(&samples)
        } else {
            None
        },
        samples,
        missing,
    }
}

fn boot_host_cell(k: &KernelRuns) -> Cell {
    Cell {
        median: median(&k.boot_host_ns),
        samples: k.boot_host_ns.clone(),
        missing: k
            .boot_host_ns
            .is_empty()
            .then(|| "no boot reached user space".to_string()),
    }
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("")
}

/// The table's lines: the program's rows in [`ROWS`] order, then rows this list does not know
/// (in the order the runs printed them), then [`BOOT_HOST`].
pub fn lines(result: &ArchResult) -> Vec<Line> {
    let mut names: Vec<String> = ROWS.iter().map(|s| s.to_string()).collect();
    for report in result.cyphera.reports.iter().chain(&result.linux.reports) {
        for (name, _) in &report.rows {
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
    }
    let mut out: Vec<Line> = names
        .into_iter()
        .map(|name| {
            let cyphera = guest_cell(&result.cyphera, &name);
            let linux = guest_cell(&result.linux, &name);
            Line {
                ratio: ratio(cyphera.median, linux.median),
                name,
                cyphera,
                linux,
            }
        })
        .collect();
    let cyphera = boot_host_cell(&result.cyphera);
    let linux = boot_host_cell(&result.linux);
    out.push(Line {
        name: BOOT_HOST.into(),
        ratio: ratio(cyphera.median, linux.median),
        cyphera,
        linux,
    });
    out
}

/// The geometric mean of the ratios of the guest rows measured on both kernels (not
/// `boot-host`, which is the host's time), with how many rows went in.
pub fn geometric_mean(lines: &[Line]) -> Option<(f64, usize)> {
    let ratios: Vec<f64> = lines
        .iter()
        .filter(|l| l.name != BOOT_HOST)
        .filter_map(|l| l.ratio)
        .filter(|r| *r > 0.0)
        .collect();
    if ratios.is_empty() {
        return None;
    }
    let mean_log = ratios.iter().map(|r| r.ln()).sum::<f64>() / ratios.len() as f64;
    Some((mean_log.exp(), ratios.len()))
}

/// The unit a row is shown in, chosen from its largest value so both columns share it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    Ns,
    Us,
    Ms,
}

impl Unit {
    pub fn for_values(values: impl IntoIterator<Item = f64>) -> Unit {
        let max = values.into_iter().fold(0.0_f64, f64::max);
        if max >= 10_000_000.0 {
            Unit::Ms
        } else if max >= 10_000.0 {
            Unit::Us
        } else {
            Unit::Ns
        }
    }

    pub fn format(self, ns: f64) -> String {
        match self {
            Unit::Ns => format!("{ns:.1} ns"),
            Unit::Us => format!("{:.2} µs", ns / 1e3),
            Unit::Ms => format!("{:.1} ms", ns / 1e6),
        }
    }
}

/// A Markdown table cell: `|` would end the cell.
fn md_escape(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

fn md_cell(cell: &Cell, unit: Unit) -> String {
    match (cell.median, &cell.missing) {
        (Some(v), _) => unit.format(v),
        (None, Some(why)) => format!("missing ({})", md_escape(why)),
        (None, None) => "missing".into(),
    }
}

/// How many boots the `boot-host` medians are over, as text ("5 boots" or "5/3 boots").
fn boot_counts(result: &ArchResult) -> String {
    let (c, l) = (
        result.cyphera.boot_host_ns.len(),
        result.linux.boot_host_ns.len(),
    );
    if c == l {
        format!("{c} boot{}", if c == 1 { "" } else { "s" })
    } else {
        format!("{c} (Cyphera) and {l} (Linux) boots")
    }
}

/// The report of one architecture as Markdown: heading, set-up, table and notes.
pub fn markdown(result: &ArchResult) -> String {
    let lines = lines(result);
    let mut md = String::new();
    let runs = result.cyphera.reports.len().max(result.linux.reports.len());
    let _ = writeln!(
        md,
        "### Cyphera vs Linux on {}: {}{}\n",
        result.arch,
        result.mode.description(),
        if result.quick {
            ", quick (smoke) mode"
        } else {
            ""
        }
    );
    let _ = writeln!(
        md,
        "{}; machine `{}`, CPU `{}`, {} RAM, 1 vCPU; median of {} run{} per kernel ({} asked).\n",
        result.qemu,
        result.machine,
        result.cpu,
        result.memory,
        runs,
        if runs == 1 { "" } else { "s" },
        result.runs
    );
    let _ = writeln!(md, "- Cyphera: {}", result.cyphera.description);
    let _ = writeln!(md, "- Linux: {}\n", result.linux.description);
    md.push_str("| row | Cyphera | Linux | Cyphera/Linux |\n|:--|--:|--:|--:|\n");
    for line in &lines {
        let unit = Unit::for_values(line.cyphera.median.into_iter().chain(line.linux.median));
        let ratio = line.ratio.map_or("—".to_string(), |r| format!("{r:.2}"));
        let _ = writeln!(
            md,
            "| {} | {} | {} | {ratio} |",
            line.name,
            md_cell(&line.cyphera, unit),
            md_cell(&line.linux, unit)
        );
    }
    md.push('\n');
    match geometric_mean(&lines) {
        Some((g, n)) => {
            let _ = writeln!(
                md,
                "Cyphera/Linux over the {n} guest rows measured on both kernels (geometric mean): \
                 **{g:.2}** (below 1: Cyphera is faster).\n"
            );
        }
        None => md.push_str("No guest row was measured on both kernels.\n\n"),
    }
    let _ = writeln!(
        md,
        "Guest rows are guest time per operation (`boot`: machine start to the first instruction \
         of /init, from the CPU counter). `{BOOT_HOST}` is host wall clock from starting QEMU to \
         the first line of user space, median of {}.",
        boot_counts(result)
    );
    for (kernel, runs) in [("Cyphera", &result.cyphera), ("Linux", &result.linux)] {
        for failure in &runs.failures {
            let _ = writeln!(md, "\n{kernel}: a run failed: {}", first_line(failure));
        }
        for warning in &runs.warnings {
            let _ = writeln!(md, "\n{kernel}: warning: {}", first_line(warning));
        }
    }
    md
}

/// A value for SVG text (XML-escaped).
fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A horizontal bar chart of the Cyphera/Linux ratio per row on a logarithmic axis (ratios of
/// 0.1 and 10 are equally far from 1): bars grow left (Cyphera faster) or right (slower) from
/// the line at 1.0, each labelled with its ratio; rows without a ratio say why.
pub fn svg(result: &ArchResult) -> String {
    let lines = lines(result);
    let (label_w, plot_w, row_h, top, bottom) = (170.0, 560.0, 26.0, 56.0, 40.0);
    let width = label_w + plot_w + 60.0;
    let height = top + row_h * lines.len() as f64 + bottom;
    // The axis spans whole powers of ten around every ratio and 1.0.
    let logs: Vec<f64> = lines
        .iter()
        .filter_map(|l| l.ratio)
        .map(f64::log10)
        .collect();
    let lo = logs
        .iter()
        .copied()
        .fold(0.0_f64, f64::min)
        .floor()
        .min(-1.0);
    let hi = logs.iter().copied().fold(0.0_f64, f64::max).ceil().max(1.0);
    let x = |ratio: f64| label_w + (ratio.log10() - lo) / (hi - lo) * plot_w;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\" font-size=\"12\">"
    );
    let _ = writeln!(
        s,
        "<rect width=\"{width}\" height=\"{height}\" fill=\"white\"/>"
    );
    let title = format!(
        "Cyphera/Linux on {}, {}{} (log scale; below 1: Cyphera faster)",
        result.arch,
        result.mode.name(),
        if result.quick { ", quick" } else { "" }
    );
    let _ = writeln!(
        s,
        "<text x=\"10\" y=\"22\" font-size=\"14\" font-weight=\"bold\">{}</text>",
        xml_escape(&title)
    );
    let axis_y = top + row_h * lines.len() as f64;
    // Grid lines and labels at 1, 2 and 5 times each power of ten.
    for decade in lo as i32..=hi as i32 {
        for m in [1.0, 2.0, 5.0] {
            let r = m * 10f64.powi(decade);
            if r.log10() > hi + 1e-9 {
                break;
            }
            let gx = x(r);
            let _ = writeln!(
                s,
                "<line x1=\"{gx:.1}\" y1=\"{}\" x2=\"{gx:.1}\" y2=\"{axis_y}\" stroke=\"#ddd\"/>",
                top - 8.0
            );
            let _ = writeln!(
                s,
                "<text x=\"{gx:.1}\" y=\"{}\" text-anchor=\"middle\" fill=\"#555\">{}</text>",
                axis_y + 16.0,
                trim_number(r)
            );
        }
    }
    let one = x(1.0);
    for (i, line) in lines.iter().enumerate() {
        let y = top + row_h * i as f64;
        let mid = y + row_h / 2.0 + 4.0;
        let _ = writeln!(
            s,
            "<text x=\"{}\" y=\"{mid}\" text-anchor=\"end\">{}</text>",
            label_w - 8.0,
            xml_escape(&line.name)
        );
        match line.ratio {
            Some(r) => {
                let bx = x(r);
                let (left, w) = if bx < one {
                    (bx, one - bx)
                } else {
                    (one, bx - one)
                };
                let color = if r <= 1.0 { "#2a9d5c" } else { "#d1495b" };
                let _ = writeln!(
                    s,
                    "<rect x=\"{left:.1}\" y=\"{}\" width=\"{:.1}\" height=\"{}\" fill=\"{color}\"/>",
                    y + 4.0,
                    w.max(1.0),
                    row_h - 8.0
                );
                let (tx, anchor) = if bx < one {
                    (bx - 4.0, "end")
                } else {
                    (bx + 4.0, "start")
                };
                let _ = writeln!(
                    s,
                    "<text x=\"{tx:.1}\" y=\"{mid}\" text-anchor=\"{anchor}\">{r:.2}</text>"
                );
            }
            None => {
                let why = match (line.cyphera.median, line.linux.median) {
                    (None, None) => "missing on both",
                    (None, Some(_)) => "missing on Cyphera",
                    _ => "missing on Linux",
                };
                let _ = writeln!(
                    s,
                    "<text x=\"{:.1}\" y=\"{mid}\" fill=\"#888\" font-style=\"italic\">{why}</text>",
                    one + 6.0
                );
            }
        }
    }
    let _ = writeln!(
        s,
        "<line x1=\"{one:.1}\" y1=\"{}\" x2=\"{one:.1}\" y2=\"{axis_y}\" stroke=\"black\" \
         stroke-width=\"1.5\"/>",
        top - 8.0
    );
    s.push_str("</svg>\n");
    s
}

/// 0.01, 0.2, 1, 50: no trailing zeros.
fn trim_number(v: f64) -> String {
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// A JSON value, rendered by hand (the report is small and flat; no serializer needed).
#[derive(Clone, Debug, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

impl Json {
    fn str(s: impl Into<String>) -> Json {
        Json::Str(s.into())
    }

    fn opt_num(v: Option<f64>) -> Json {
        v.map_or(Json::Null, Json::Num)
    }

    fn obj(fields: Vec<(&str, Json)>) -> Json {
        Json::Obj(
            fields
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        )
    }

    /// Pretty-printed with two-space indentation.
    pub fn render(&self) -> String {
        let mut out = String::new();
        self.write(&mut out, 0);
        out.push('\n');
        out
    }

    fn write(&self, out: &mut String, depth: usize) {
        let pad = |n: usize| "  ".repeat(n);
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            // JSON has no NaN or infinity.
            Json::Num(v) if !v.is_finite() => out.push_str("null"),
            Json::Num(v) if v.fract() == 0.0 && v.abs() < 1e15 => {
                let _ = write!(out, "{}", *v as i64);
            }
            Json::Num(v) => {
                let _ = write!(out, "{v}");
            }
            Json::Str(s) => {
                out.push('"');
                for c in s.chars() {
                    match c {
                        '"' => out.push_str("\\\""),
                        '\\' => out.push_str("\\\\"),
                        '\n' => out.push_str("\\n"),
                        '\r' => out.push_str("\\r"),
                        '\t' => out.push_str("\\t"),
                        c if (c as u32) < 0x20 => {
                            let _ = write!(out, "\\u{:04x}", c as u32);
                        }
                        c => out.push(c),
                    }
                }
                out.push('"');
            }
            Json::Arr(items) if items.is_empty() => out.push_str("[]"),
            Json::Arr(items) => {
                out.push_str("[\n");
                for (i, item) in items.iter().enumerate() {
                    out.push_str(&pad(depth + 1));
                    item.write(out, depth + 1);
                    out.push_str(if i + 1 < items.len() { ",\n" } else { "\n" });
                }
                out.push_str(&pad(depth));
                out.push(']');
            }
            Json::Obj(fields) if fields.is_empty() => out.push_str("{}"),
            Json::Obj(fields) => {
                out.push_str("{\n");
                for (i, (key, value)) in fields.iter().enumerate() {
                    out.push_str(&pad(depth + 1));
                    Json::Str(key.clone()).write(out, depth + 1);
                    out.push_str(": ");
                    value.write(out, depth + 1);
                    out.push_str(if i + 1 < fields.len() { ",\n" } else { "\n" });
                }
                out.push_str(&pad(depth));
                out.push('}');
            }
        }
    }
}

fn cell_json(cell: &Cell) -> Json {
    Json::obj(vec![
        ("median_ns", Json::opt_num(cell.median)),
        (
            "samples_ns",
            Json::Arr(cell.samples.iter().copied().map(Json::Num).collect()),
        ),
        (
            "missing",
            cell.missing.clone().map_or(Json::Null, Json::Str),
        ),
    ])
}

fn kernel_json(k: &KernelRuns) -> Json {
    let runs = k
        .reports
        .iter()
        .map(|r| {
            Json::obj(vec![
                ("mode", Json::str(&r.mode)),
                (
                    "rows",
                    Json::Obj(
                        r.rows
                            .iter()
                            .map(|(name, value)| {
                                let v = match value {
                                    Value::Measured { ns, iters } => Json::obj(vec![
                                        ("ns", Json::Num(*ns)),
                                        ("iters", Json::Num(*iters as f64)),
                                    ]),
                                    Value::Missing { reason } => {
                                        Json::obj(vec![("missing", Json::str(reason))])
                                    }
                                };
                                (name.clone(), v)
                            })
                            .collect(),
                    ),
                ),
            ])
        })
        .collect();
    Json::obj(vec![
        ("description", Json::str(&k.description)),
        ("qemu_command", Json::str(&k.command)),
        ("runs", Json::Arr(runs)),
        (
            "failures",
            Json::Arr(k.failures.iter().map(Json::str).collect()),
        ),
        (
            "warnings",
            Json::Arr(k.warnings.iter().map(Json::str).collect()),
        ),
        (
            "boot_host_ns",
            Json::Arr(k.boot_host_ns.iter().copied().map(Json::Num).collect()),
        ),
    ])
}

/// All results as one JSON document: per architecture the set-up, the summarised rows (medians,
/// every sample and the ratio) and each kernel's raw per-run values.
pub fn json(results: &[ArchResult]) -> String {
    let arches = results
        .iter()
        .map(|r| {
            let lines = lines(r);
            let rows = lines
                .iter()
                .map(|l| {
                    Json::obj(vec![
                        ("name", Json::str(&l.name)),
                        ("cyphera", cell_json(&l.cyphera)),
                        ("linux", cell_json(&l.linux)),
                        ("ratio", Json::opt_num(l.ratio)),
                    ])
                })
                .collect();
            let (geo, geo_rows) = geometric_mean(&lines).map_or((None, 0), |(g, n)| (Some(g), n));
            Json::obj(vec![
                ("arch", Json::str(r.arch.name())),
                ("mode", Json::str(r.mode.name())),
                ("quick", Json::Bool(r.quick)),
                ("runs_asked", Json::Num(r.runs as f64)),
                ("qemu", Json::str(&r.qemu)),
                ("machine", Json::str(&r.machine)),
                ("cpu", Json::str(&r.cpu)),
                ("memory", Json::str(&r.memory)),
                ("smp", Json::Num(1.0)),
                ("rows", Json::Arr(rows)),
                ("geometric_mean_ratio", Json::opt_num(geo)),
                ("geometric_mean_rows", Json::Num(geo_rows as f64)),
                (
                    "kernels",
                    Json::obj(vec![
                        ("cyphera", kernel_json(&r.cyphera)),
                        ("linux", kernel_json(&r.linux)),
                    ]),
                ),
            ])
        })
        .collect();
    Json::obj(vec![
        (
            "about",
            Json::str(
                "cargo xtask bench: per row the median over runs of nanoseconds per operation on \
                 each kernel, and Cyphera/Linux; boot-host is host wall clock from starting QEMU \
                 to the first line of user space",
            ),
        ),
        ("results", Json::Arr(arches)),
    ])
    .render()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(rows: &[(&str, Option<f64>)]) -> Report {
        Report {
            arch: "x86_64".into(),
            mode: "full".into(),
            rows: rows
                .iter()
                .map(|(name, ns)| {
                    let v = match ns {
                        Some(ns) => Value::Measured {
                            ns: *ns,
                            iters: 1000,
                        },
                        None => Value::Missing {
                            reason: "ENOSYS".into(),
                        },
                    };
                    (name.to_string(), v)
                })
                .collect(),
        }
    }

    fn result(cyphera: Vec<Report>, linux: Vec<Report>) -> ArchResult {
        ArchResult {
            arch: Arch::X86_64,
            mode: Mode::Wall,
            quick: false,
            runs: 3,
            qemu: "QEMU emulator version 10.0.2".into(),
            machine: "q35".into(),
            cpu: "max".into(),
            memory: "512M".into(),
            cyphera: KernelRuns {
                description: "Cyphera 0.1.0".into(),
                command: "qemu-system-x86_64 -kernel c".into(),
                reports: cyphera,
                failures: Vec::new(),
                warnings: Vec::new(),
                boot_host_ns: vec![8e8, 9e8, 7e8, 8.5e8, 8e8],
            },
            linux: KernelRuns {
                description: "Debian \"6.1\"".into(),
                command: "qemu-system-x86_64 -kernel l".into(),
                reports: linux,
                failures: Vec::new(),
                warnings: vec!["run 1: did not power off".into()],
                boot_host_ns: vec![3e9, 3.2e9, 2.9e9, 3.1e9, 3e9],
            },
        }
    }

    #[test]
    fn medians() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[5.0]), Some(5.0));
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[1.0, 1e9, 2.0]), Some(2.0));
    }

    #[test]
    fn ratios_need_both_kernels() {
        assert_eq!(ratio(Some(1.0), Some(4.0)), Some(0.25));
        assert_eq!(ratio(None, Some(4.0)), None);
        assert_eq!(ratio(Some(1.0), None), None);
        assert_eq!(ratio(Some(1.0), Some(0.0)), None);
    }

    #[test]
    fn rows_are_medians_over_runs_and_missing_is_never_filled_in() {
        let c = vec![
            report(&[
                ("getppid", Some(100.0)),
                ("ctxswitch", None),
                ("stat", Some(5.0)),
            ]),
            report(&[("getppid", Some(300.0)), ("ctxswitch", None)]),
            report(&[
                ("getppid", Some(200.0)),
                ("ctxswitch", None),
                ("stat", Some(7.0)),
            ]),
        ];
        let l = vec![
            report(&[
                ("getppid", Some(400.0)),
                ("ctxswitch", Some(900.0)),
                ("stat", Some(10.0)),
                ("extra", Some(1.0)),
            ]),
            report(&[
                ("getppid", Some(380.0)),
                ("ctxswitch", Some(1000.0)),
                ("stat", Some(10.0)),
                ("extra", Some(1.0)),
            ]),
            report(&[
                ("getppid", Some(420.0)),
                ("ctxswitch", Some(1100.0)),
                ("stat", Some(10.0)),
                ("extra", Some(1.0)),
            ]),
        ];
        let r = result(c, l);
        let lines = lines(&r);
        let names: Vec<&str> = lines.iter().map(|l| l.name.as_str()).collect();
        let mut want: Vec<&str> = ROWS.to_vec();
        want.extend(["extra", BOOT_HOST]);
        assert_eq!(names, want);
        let get = |n: &str| lines.iter().find(|l| l.name == n).unwrap();

        let g = get("getppid");
        assert_eq!(g.cyphera.median, Some(200.0));
        assert_eq!(g.cyphera.samples, [100.0, 300.0, 200.0]);
        assert_eq!(g.linux.median, Some(400.0));
        assert_eq!(g.ratio, Some(0.5));

        let cs = get("ctxswitch");
        assert_eq!(cs.cyphera.median, None);
        assert_eq!(cs.cyphera.missing.as_deref(), Some("ENOSYS"));
        assert_eq!(cs.linux.median, Some(1000.0));
        assert_eq!(cs.ratio, None);

        // Measured in two runs of three: no median from the two.
        let st = get("stat");
        assert_eq!(st.cyphera.median, None);
        assert_eq!(
            st.cyphera.missing.as_deref(),
            Some("missing in 1 of 3 runs: not reported")
        );
        assert_eq!(st.ratio, None);

        let boot = get("boot");
        assert_eq!(boot.cyphera.missing.as_deref(), Some("not reported"));

        let bh = get(BOOT_HOST);
        assert_eq!(bh.cyphera.median, Some(8e8));
        assert_eq!(bh.linux.median, Some(3e9));

        // Only getppid is measured on both among the guest rows; boot-host never counts.
        assert_eq!(geometric_mean(&lines), Some((0.5, 1)));
        let two = [
            lines[1].clone(),
            Line {
                ratio: Some(2.0),
                ..lines[2].clone()
            },
            bh.clone(),
        ];
        let (g, n) = geometric_mean(&two).unwrap();
        assert_eq!(n, 2);
        assert!((g - 1.0).abs() < 1e-12, "{g}");
    }

    #[test]
    fn a_kernel_without_finished_runs_is_missing_everywhere() {
        let mut r = result(vec![report(&[("getppid", Some(1.0))])], Vec::new());
        r.linux.failures =
            vec!["timed out after 300s waiting for \"cyphera-bench: end\"\n(tail)".into()];
        r.linux.boot_host_ns.clear();
        let lines = lines(&r);
        assert!(lines.iter().all(|l| l.ratio.is_none()));
        assert_eq!(lines[1].linux.missing.as_deref(), Some("no run finished"));
        assert_eq!(
            lines.last().unwrap().linux.missing.as_deref(),
            Some("no boot reached user space")
        );
        assert_eq!(geometric_mean(&lines), None);
        let md = markdown(&r);
        assert!(
            md.contains("No guest row was measured on both kernels."),
            "{md}"
        );
        assert!(md.contains("Linux: a run failed: timed out"), "{md}");
    }

    #[test]
    fn units_follow_the_larger_value() {
        assert_eq!(Unit::for_values([391.3, 120.0]), Unit::Ns);
        assert_eq!(Unit::for_values([9_999.0]), Unit::Ns);
        assert_eq!(Unit::for_values([10_000.0, 5.0]), Unit::Us);
        assert_eq!(Unit::for_values([2.9e9]), Unit::Ms);
        assert_eq!(Unit::for_values([]), Unit::Ns);
        assert_eq!(Unit::Ns.format(391.25), "391.2 ns");
        assert_eq!(Unit::Us.format(12_345.0), "12.35 µs");
        assert_eq!(Unit::Ms.format(2.95e9), "2950.0 ms");
    }

    #[test]
    fn markdown_table() {
        let r = result(
            vec![report(&[("getppid", Some(200.0)), ("ctxswitch", None)])],
            vec![report(&[
                ("getppid", Some(400.0)),
                ("ctxswitch", Some(20_000.0)),
            ])],
        );
        let md = markdown(&r);
        assert!(
            md.starts_with("### Cyphera vs Linux on x86_64: wall clock under TCG\n"),
            "{md}"
        );
        assert!(
            md.contains(
                "machine `q35`, CPU `max`, 512M RAM, 1 vCPU; median of 1 run per kernel (3 asked)"
            ),
            "{md}"
        );
        assert!(md.contains("| row | Cyphera | Linux | Cyphera/Linux |\n|:--|--:|--:|--:|\n| boot | missing (not reported) | missing (not reported) | — |\n"), "{md}");
        assert!(
            md.contains("| getppid | 200.0 ns | 400.0 ns | 0.50 |\n"),
            "{md}"
        );
        assert!(
            md.contains("| ctxswitch | missing (ENOSYS) | 20.00 µs | — |\n"),
            "{md}"
        );
        assert!(
            md.contains("| boot-host | 800.0 ms | 3000.0 ms | 0.27 |\n"),
            "{md}"
        );
        assert!(
            md.contains(
                "over the 1 guest rows measured on both kernels (geometric mean): **0.50**"
            ),
            "{md}"
        );
        assert!(md.contains("median of 5 boots."), "{md}");
        assert!(
            md.contains("Linux: warning: run 1: did not power off"),
            "{md}"
        );
        assert_eq!(r.file_stem(), "x86_64-tcg");
        let mut q = r.clone();
        (q.quick, q.mode) = (true, Mode::Icount);
        assert_eq!(q.file_stem(), "x86_64-icount-quick");
        assert_eq!(md_escape("a|b\nc"), "a\\|b c");
    }

    #[test]
    fn svg_chart() {
        let r = result(
            vec![report(&[("getppid", Some(200.0)), ("stat", Some(3000.0))])],
            vec![report(&[("getppid", Some(400.0)), ("stat", Some(1000.0))])],
        );
        let svg = svg(&r);
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.trim_end().ends_with("</svg>"));
        // One label per row, a bar per ratio with its value, and the line at 1.0.
        for name in ROWS.iter().chain(&[BOOT_HOST]) {
            assert!(svg.contains(&format!(">{name}</text>")), "{name}");
        }
        assert_eq!(svg.matches("<rect ").count(), 1 + 3, "{svg}");
        assert!(
            svg.contains(">0.50</text>")
                && svg.contains(">3.00</text>")
                && svg.contains(">0.27</text>")
        );
        assert!(svg.contains("missing on both"));
        let one_sided = result(
            vec![report(&[("getppid", Some(200.0)), ("stat", Some(3.0))])],
            vec![report(&[
                ("getppid", None),
                ("stat", Some(1.0)),
                ("boot", Some(1.0)),
            ])],
        );
        let svg2 = super::svg(&one_sided);
        assert!(svg2.contains("missing on Linux") && svg2.contains("missing on Cyphera"));
        assert!(svg.contains("stroke=\"black\""));
        // Axis labels from 0.1 to 10.
        for tick in [">0.1<", ">1<", ">2<", ">10<"] {
            assert!(svg.contains(tick), "{tick}");
        }
        // Every tag is closed: as many `<` as `>` (no stray characters from the text).
        assert_eq!(svg.matches('<').count(), svg.matches('>').count());
        assert_eq!(xml_escape("a<b & \"c\">"), "a&lt;b &amp; &quot;c&quot;&gt;");
    }

    #[test]
    fn json_has_medians_ratios_and_every_raw_value() {
        let r = result(
            vec![report(&[("getppid", Some(200.5)), ("ctxswitch", None)])],
            vec![report(&[
                ("getppid", Some(401.0)),
                ("ctxswitch", Some(900.0)),
            ])],
        );
        let j = json(&[r]);
        assert!(j.contains("\"arch\": \"x86_64\""), "{j}");
        assert!(j.contains("\"mode\": \"tcg\""), "{j}");
        assert!(j.contains("\"median_ns\": 200.5"), "{j}");
        assert!(j.contains("\"ratio\": 0.5"), "{j}");
        assert!(j.contains("\"missing\": \"ENOSYS\""), "{j}");
        assert!(j.contains("\"ns\": 401,\n"), "{j}");
        assert!(j.contains("\"iters\": 1000"), "{j}");
        assert!(j.contains("\"description\": \"Debian \\\"6.1\\\"\""), "{j}");
        assert!(j.contains("\"boot_host_ns\": [\n"), "{j}");
        // Balanced brackets and braces (strings here hold none).
        assert_eq!(j.matches('{').count(), j.matches('}').count());
        assert_eq!(j.matches('[').count(), j.matches(']').count());
    }

    #[test]
    fn json_rendering() {
        let v = Json::obj(vec![
            (
                "a",
                Json::Arr(vec![Json::Num(1.0), Json::Num(0.25), Json::Num(f64::NAN)]),
            ),
            ("b", Json::str("x\"y\\z\n\u{1}")),
            ("c", Json::Arr(Vec::new())),
            ("d", Json::Obj(Vec::new())),
            ("e", Json::Null),
            ("f", Json::Bool(true)),
        ]);
        assert_eq!(
            v.render(),
            "{\n  \"a\": [\n    1,\n    0.25,\n    null\n  ],\n  \"b\": \"x\\\"y\\\\z\\n\\u0001\",\n  \
             \"c\": [],\n  \"d\": {},\n  \"e\": null,\n  \"f\": true\n}\n"
        );
    }
}
