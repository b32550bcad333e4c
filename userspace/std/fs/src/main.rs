//! Conformance (Rust std): `std::fs` on a writable file system (needs the VFS, issue 4; until
//! then the harness runs it on Linux only). In a fresh directory under the working directory:
//! create, write, append, read back, metadata, rename, copy, list (sorted), and the errors for
//! a missing file, an existing directory and a non-empty one; then everything is removed. Also
//! execve's path-walk errors, through `Command`: ENOTDIR and EACCES.

use std::fs;
use std::io::Write;
use std::process::Command;

fn main() {
    let mut failures = 0;
    let mut expect = |label: &str, got: String, want: &str| {
        if got == want {
            println!("{label}: {got}");
        } else {
            println!("{label}: {got} FAILED: expected {want}");
            failures += 1;
        }
    };
    // Unique per process, since Linux reference runs may share a working directory.
    let dir = format!("conformance-fs-{}", std::process::id());
    let p = |name: &str| format!("{dir}/{name}");

    expect(
        "create_dir",
        format!("{:?}", fs::create_dir(&dir)),
        "Ok(())",
    );
    expect(
        "create_dir again",
        format!("{:?}", fs::create_dir(&dir).map_err(|e| e.kind())),
        "Err(AlreadyExists)",
    );
    expect(
        "write a.txt",
        format!("{:?}", fs::write(p("a.txt"), "hello\n")),
        "Ok(())",
    );
    let mut f = fs::OpenOptions::new()
        .append(true)
        .open(p("a.txt"))
        .unwrap();
    f.write_all(b"world\n").unwrap();
    drop(f);
    expect(
        "read a.txt",
        format!("{:?}", fs::read_to_string(p("a.txt")).unwrap()),
        r#""hello\nworld\n""#,
    );
    expect(
        "its length",
        fs::metadata(p("a.txt")).unwrap().len().to_string(),
        "12",
    );
    expect(
        "is a file",
        fs::metadata(p("a.txt")).unwrap().is_file().to_string(),
        "true",
    );
    expect(
        "rename to b.txt",
        format!("{:?}", fs::rename(p("a.txt"), p("b.txt"))),
        "Ok(())",
    );
    expect(
        "copy to c.txt",
        format!("{:?}", fs::copy(p("b.txt"), p("c.txt"))),
        "Ok(12)",
    );
    fs::create_dir(p("sub")).unwrap();
    let mut names: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    expect(
        "read_dir",
        format!("{names:?}"),
        r#"["b.txt", "c.txt", "sub"]"#,
    );
    expect(
        "reading a.txt now",
        format!("{:?}", fs::read(p("a.txt")).map_err(|e| e.kind())),
        "Err(NotFound)",
    );
    expect(
        "remove_dir on a non-empty directory",
        format!("{:?}", fs::remove_dir(&dir).map_err(|e| e.kind())),
        "Err(DirectoryNotEmpty)",
    );
    expect(
        "remove_file c.txt",
        format!("{:?}", fs::remove_file(p("c.txt"))),
        "Ok(())",
    );
    expect(
        "remove_dir_all",
        format!("{:?}", fs::remove_dir_all(&dir)),
        "Ok(())",
    );
    expect(
        "the directory is gone",
        fs::metadata(&dir).is_err().to_string(),
        "true",
    );

    // execve's path walk: through a regular file (ENOTDIR), of a directory (EACCES). The
    // program itself (argv[0]) is the regular file.
    let me = std::env::args().next().unwrap_or_default();
    let run = |path: &str| format!("{:?}", Command::new(path).status().map_err(|e| e.kind()));
    expect(
        "executing <self>/x",
        run(&format!("{me}/x")),
        "Err(NotADirectory)",
    );
    expect("executing /", run("/"), "Err(PermissionDenied)");

    if failures == 0 {
        println!("std-fs: ok");
    } else {
        println!("std-fs: {failures} checks FAILED");
        std::process::exit(1);
    }
}
