//! Conformance (Rust std): `std::process::Command`, which on musl spawns with
//! `clone(CLONE_VM|CLONE_VFORK)` + `execve` and talks to the child through pipes. The program
//! runs itself (found through argv[0]: there is no /proc/self/exe to rely on) in various roles:
//! exit codes, captured stdout and stderr, stdin fed through a pipe, the environment set or
//! cleared, several children at once, a child killed by SIGABRT, and a missing program. Stdin
//! is always given explicitly: `output()` would otherwise open /dev/null, which needs a file
//! system (`std-fs` is the program for that).

use std::io::{Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio, exit};

fn child(role: &str, rest: &[String]) -> ! {
    match role {
        "exit" => exit(rest[0].parse().unwrap_or(99)),
        "echo" => {
            println!("{}", rest.join(" "));
            exit(0)
        }
        "env" => {
            println!(
                "CYPHERA_TEST={}",
                std::env::var("CYPHERA_TEST").unwrap_or_else(|_| "(unset)".into())
            );
            println!(
                "HOME is {}",
                if std::env::var_os("HOME").is_some() {
                    "set"
                } else {
                    "unset"
                }
            );
            exit(0)
        }
        "upper" => {
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s).unwrap();
            print!("{}", s.to_uppercase());
            exit(0)
        }
        "both" => {
            println!("to stdout");
            eprintln!("to stderr");
            exit(3)
        }
        "abort" => std::process::abort(),
        _ => exit(98),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(role) = args.get(1) {
        child(role, &args[2..]);
    }
    let me = &args[0];
    let mut failures = 0;
    let mut expect = |label: &str, got: String, want: &str| {
        if got == want {
            println!("{label}: {got}");
        } else {
            println!("{label}: {got} FAILED: expected {want}");
            failures += 1;
        }
    };

    let status = Command::new(me).args(["exit", "7"]).status().unwrap();
    expect(
        "child `exit 7`",
        format!("{:?} {}", status.code(), status.success()),
        "Some(7) false",
    );
    let status = Command::new(me).args(["exit", "0"]).status().unwrap();
    expect(
        "child `exit 0`",
        format!("{:?} {}", status.code(), status.success()),
        "Some(0) true",
    );

    let out = Command::new(me)
        .args(["echo", "a", "b c", "d"])
        .stdin(Stdio::inherit())
        .output()
        .unwrap();
    expect(
        "child `echo a 'b c' d` stdout",
        format!("{:?}", String::from_utf8_lossy(&out.stdout)),
        r#""a b c d\n""#,
    );
    let out = Command::new(me)
        .arg("both")
        .stdin(Stdio::inherit())
        .output()
        .unwrap();
    expect(
        "child writing to both: stdout, stderr, code",
        format!(
            "{:?} {:?} {:?}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            out.status.code()
        ),
        r#""to stdout\n" "to stderr\n" Some(3)"#,
    );

    let out = Command::new(me)
        .arg("env")
        .env("CYPHERA_TEST", "42")
        .stdin(Stdio::inherit())
        .output()
        .unwrap();
    expect(
        "child with CYPHERA_TEST=42",
        format!("{:?}", String::from_utf8_lossy(&out.stdout)),
        r#""CYPHERA_TEST=42\nHOME is set\n""#,
    );
    let out = Command::new(me)
        .arg("env")
        .env_clear()
        .stdin(Stdio::inherit())
        .output()
        .unwrap();
    expect(
        "child with a cleared environment",
        format!("{:?}", String::from_utf8_lossy(&out.stdout)),
        r#""CYPHERA_TEST=(unset)\nHOME is unset\n""#,
    );

    let mut c = Command::new(me)
        .arg("upper")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin
        .take()
        .unwrap()
        .write_all(b"through a pipe\nand back\n")
        .unwrap();
    let out = c.wait_with_output().unwrap();
    expect(
        "child reading stdin",
        format!("{:?}", String::from_utf8_lossy(&out.stdout)),
        r#""THROUGH A PIPE\nAND BACK\n""#,
    );

    let children: Vec<_> = (0..4)
        .map(|i| {
            Command::new(me)
                .args(["exit", &(10 + i).to_string()])
                .spawn()
                .unwrap()
        })
        .collect();
    let codes: Vec<_> = children
        .into_iter()
        .map(|mut c| c.wait().unwrap().code())
        .collect();
    expect(
        "four children at once",
        format!("{codes:?}"),
        "[Some(10), Some(11), Some(12), Some(13)]",
    );

    let status = Command::new(me)
        .arg("abort")
        .stdin(Stdio::inherit())
        .stderr(Stdio::piped())
        .output()
        .map(|o| o.status)
        .unwrap();
    expect(
        "child calling abort(): code, signal",
        format!("{:?} {:?}", status.code(), status.signal()),
        "None Some(6)",
    );

    let err = Command::new("/no/such/program").status().unwrap_err();
    expect(
        "spawning a missing program",
        format!("{:?}", err.kind()),
        "NotFound",
    );

    if failures == 0 {
        println!("std-process: ok");
    } else {
        println!("std-process: {failures} checks FAILED");
        exit(1);
    }
}
