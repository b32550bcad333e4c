//! PLACEHOLDER, being replaced by the complete table work: the arch-neutral syscall identity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Sysno {
    Read,
    Write,
    Writev,
    Exit,
    ExitGroup,
    Getpid,
    Uname,
    Brk,
}
