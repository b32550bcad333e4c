//! Finding the program execve runs: the path is resolved in the VFS, the file must be a
//! regular file with an execute bit, and a `#!` script names its interpreter, which is found
//! the same way (at most [`MAX_INTERPRETERS`] deep, then ELOOP, as Linux's binfmt_script).

use crate::errno::Errno;
use crate::vfs::path::Resolver;
use crate::vfs::{Body, FileData, Location};
use alloc::borrow::Cow;
use alloc::vec::Vec;

/// Linux's BINPRM_MAX_RECURSION.
pub const MAX_INTERPRETERS: usize = 4;
/// Linux's BINPRM_BUF_SIZE: how much of a `#!` line is looked at.
const BINPRM_BUF_SIZE: usize = 256;

/// What to load: the image to map, the path it was found at, the argv to start it with.
pub struct Program {
    pub path: Vec<u8>,
    /// The file's absolute path with every symbolic link resolved, which /proc/PID/exe shows
    /// (static glibc reads it and insists that it starts with `/`).
    pub exe: Vec<u8>,
    pub image: Cow<'static, [u8]>,
    pub argv: Vec<Vec<u8>>,
}

/// Resolves `path` (from `start`) to a program, following `#!` interpreters.
pub fn find(
    r: &Resolver,
    start: &Location,
    path: &[u8],
    mut argv: Vec<Vec<u8>>,
) -> Result<Program, Errno> {
    let mut path = path.to_vec();
    for _ in 0..=MAX_INTERPRETERS {
        let loc = r.resolve(start, &path, true)?;
        let image: Cow<'static, [u8]> = match &loc.node.body {
            Body::File(data) if loc.node.permits(1) => match &*data.borrow() {
                FileData::Static(bytes) => Cow::Borrowed(*bytes),
                FileData::Owned(v) => Cow::Owned(v.clone()),
            },
            _ => return Err(Errno::EACCES),
        };
        let Some((interpreter, argument)) = parse_shebang(&image)? else {
            let exe = r.path_of(&loc);
            return Ok(Program {
                path,
                exe,
                image,
                argv,
            });
        };
        // The script's argv[0] is replaced by the interpreter, its optional argument and
        // the script's path; the rest follows.
        let mut new_argv = alloc::vec![interpreter.clone()];
        new_argv.extend(argument);
        new_argv.push(path.clone());
        new_argv.extend(argv.into_iter().skip(1));
        argv = new_argv;
        path = interpreter;
    }
    Err(Errno::ELOOP)
}

/// A `#!` line's interpreter and its optional argument.
type Shebang = (Vec<u8>, Option<Vec<u8>>);

/// The interpreter and optional argument of a `#!` line; None if the file is not a script.
fn parse_shebang(image: &[u8]) -> Result<Option<Shebang>, Errno> {
    let Some(rest) = image.strip_prefix(b"#!") else {
        return Ok(None);
    };
    let window = &rest[..rest.len().min(BINPRM_BUF_SIZE - 2)];
    let line_end = window.iter().position(|&b| b == b'\n');
    let line = &window[..line_end.unwrap_or(window.len())];
    let is_blank = |b: &u8| *b == b' ' || *b == b'\t';
    let start = line
        .iter()
        .position(|b| !is_blank(b))
        .ok_or(Errno::ENOEXEC)?;
    let line = &line[start..];
    let name_end = line.iter().position(is_blank).unwrap_or(line.len());
    // A name cut by the buffer's end cannot be trusted (Linux: ENOEXEC).
    if line_end.is_none() && name_end == line.len() && rest.len() > window.len() {
        return Err(Errno::ENOEXEC);
    }
    let interpreter = line[..name_end].to_vec();
    let argument = line[name_end..]
        .iter()
        .position(|b| !is_blank(b))
        .map(|i| {
            let arg = &line[name_end + i..];
            let end = arg.iter().rposition(|b| !is_blank(b)).map_or(0, |e| e + 1);
            arg[..end].to_vec()
        })
        .filter(|a| !a.is_empty());
    Ok(Some((interpreter, argument)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shebang_lines() {
        assert_eq!(parse_shebang(b"\x7fELF").unwrap(), None);
        assert_eq!(
            parse_shebang(b"#!/bin/sh\necho").unwrap(),
            Some((b"/bin/sh".to_vec(), None))
        );
        assert_eq!(
            parse_shebang(b"#! /usr/bin/env  python3 -u \n").unwrap(),
            Some((b"/usr/bin/env".to_vec(), Some(b"python3 -u".to_vec())))
        );
        assert_eq!(parse_shebang(b"#!   \n"), Err(Errno::ENOEXEC));
        let mut long = b"#!/".to_vec();
        long.extend(core::iter::repeat_n(b'x', 300));
        assert_eq!(parse_shebang(&long), Err(Errno::ENOEXEC));
    }
}
