//! The kernel command line: which program is init, and what argv/envp it gets. Follows Linux's
//! rules (Documentation/admin-guide/kernel-parameters.rst): `init=` names init; words after `--`
//! go to init's argv; other words the kernel does not know go to init's argv (plain words) or
//! envp (`name=value`).

use alloc::string::{String, ToString};
use alloc::vec::Vec;

/// Parameters the kernel itself consumes; they are not passed to init.
const KERNEL_PARAMETERS: &[&str] = &[
    "init",
    "rdinit",
    "console",
    "earlycon",
    "quiet",
    "debug",
    "loglevel",
    "mitigations",
    "nokaslr",
    "rdinit",
    "panic",
];

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InitSpec {
    pub path: String,
    /// argv[0] is the path, like Linux.
    pub argv: Vec<String>,
    pub envp: Vec<String>,
    /// `quiet` was given: boot chatter is suppressed.
    pub quiet: bool,
    /// `cyphera.selftest=NAME`: break that hardware protection on purpose before init runs (see
    /// `hal::protection::Violation`), to show that it is on.
    pub selftest: Option<String>,
}

pub fn parse(cmdline: &str) -> InitSpec {
    let mut path = String::from("/init");
    let mut args = Vec::new();
    // Linux always passes these two to init.
    let mut envp = alloc::vec![String::from("HOME=/"), String::from("TERM=linux")];
    let mut quiet = false;
    let mut selftest = None;
    let mut words = cmdline.split_ascii_whitespace();
    for word in words.by_ref() {
        if word == "--" {
            break;
        }
        let (key, value) = match word.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (word, None),
        };
        match (key, value) {
            ("init" | "rdinit", Some(v)) if !v.is_empty() => path = v.to_string(),
            ("quiet", None) => quiet = true,
            ("cyphera.selftest", Some(v)) => selftest = Some(v.to_string()),
            _ if KERNEL_PARAMETERS.contains(&key) || key.contains('.') => {}
            (_, Some(_)) => envp.push(word.to_string()),
            (_, None) => args.push(word.to_string()),
        }
    }
    args.extend(words.map(str::to_string));
    let mut argv = alloc::vec![path.clone()];
    argv.extend(args);
    InitSpec {
        path,
        argv,
        envp,
        quiet,
        selftest,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_to_slash_init() {
        let spec = parse("");
        assert_eq!(spec.path, "/init");
        assert_eq!(spec.argv, ["/init"]);
        assert_eq!(spec.envp, ["HOME=/", "TERM=linux"]);
        assert!(!spec.quiet);
    }

    #[test]
    fn init_argv_and_env_like_linux() {
        let spec = parse("console=ttyS0 quiet init=/bin/prog X=1 single -- a b=c --");
        assert_eq!(spec.path, "/bin/prog");
        assert_eq!(spec.argv, ["/bin/prog", "single", "a", "b=c", "--"]);
        assert_eq!(spec.envp, ["HOME=/", "TERM=linux", "X=1"]);
        assert!(spec.quiet);
        assert_eq!(spec.selftest, None);
    }

    #[test]
    fn selftest_is_a_kernel_parameter() {
        let spec = parse("cyphera.selftest=read-user X=1");
        assert_eq!(spec.selftest.as_deref(), Some("read-user"));
        assert_eq!(spec.envp, ["HOME=/", "TERM=linux", "X=1"]);
    }

    #[test]
    fn module_parameters_and_empty_init_are_ignored() {
        let spec = parse("init= virtio.blk=1 loglevel=3");
        assert_eq!(spec.path, "/init");
        assert_eq!(spec.envp.len(), 2);
    }
}
