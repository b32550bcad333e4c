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
}

pub fn parse(cmdline: &str) -> InitSpec {
    let mut path = String::from("/init");
    let mut args = Vec::new();
    // Linux always passes these two to init.
    let mut envp = alloc::vec![String::from("HOME=/"), String::from("TERM=linux")];
    let mut quiet = false;
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
    }

    #[test]
    fn module_parameters_and_empty_init_are_ignored() {
        let spec = parse("init= virtio.blk=1 loglevel=3");
        assert_eq!(spec.path, "/init");
        assert_eq!(spec.envp.len(), 2);
    }
}
