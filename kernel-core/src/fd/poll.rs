//! Readiness bits shared by poll(2), select(2) and epoll(7) (the generic values, which x86_64
//! and AArch64 both use).

pub const POLLIN: u32 = 0x001;
pub const POLLPRI: u32 = 0x002;
pub const POLLOUT: u32 = 0x004;
pub const POLLERR: u32 = 0x008;
pub const POLLHUP: u32 = 0x010;
pub const POLLNVAL: u32 = 0x020;
pub const POLLRDNORM: u32 = 0x040;
pub const POLLRDBAND: u32 = 0x080;
pub const POLLWRNORM: u32 = 0x100;
pub const POLLWRBAND: u32 = 0x200;

pub const EPOLLIN: u32 = POLLIN;
pub const EPOLLOUT: u32 = POLLOUT;
pub const EPOLLERR: u32 = POLLERR;
pub const EPOLLHUP: u32 = POLLHUP;
pub const EPOLLRDNORM: u32 = POLLRDNORM;
pub const EPOLLWRNORM: u32 = POLLWRNORM;
pub const EPOLLEXCLUSIVE: u32 = 1 << 28;
pub const EPOLLWAKEUP: u32 = 1 << 29;
pub const EPOLLONESHOT: u32 = 1 << 30;
pub const EPOLLET: u32 = 1 << 31;
/// Bits that steer epoll rather than name events (Linux's EP_PRIVATE_BITS).
pub const EPOLL_PRIVATE: u32 = EPOLLWAKEUP | EPOLLONESHOT | EPOLLET | EPOLLEXCLUSIVE;

/// What select(2) counts as readable, writable and exceptional (Linux's POLL*_SET).
pub const SELECT_IN: u32 = POLLRDNORM | POLLRDBAND | POLLIN | POLLHUP | POLLERR;
pub const SELECT_OUT: u32 = POLLWRBAND | POLLWRNORM | POLLOUT | POLLERR;
pub const SELECT_EX: u32 = POLLPRI;
