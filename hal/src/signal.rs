//! What the arch needs to build or unwind a Linux signal frame. The core decides *whether* and
//! *which* signal is delivered and where its frame goes; the arch knows the frame's layout.

/// `stack_t` (sigaltstack) as Linux stores it in `uc_stack`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct AltStack {
    pub sp: u64,
    pub flags: u32,
    pub size: u64,
}

/// One signal delivery, prepared by the core.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignalDelivery {
    pub signal: u32,
    /// The `siginfo_t` bytes (128 on both arches).
    pub info: [u8; 128],
    pub handler: u64,
    /// `sa_flags` (SA_SIGINFO, SA_ONSTACK, SA_RESTORER, ...).
    pub flags: u64,
    /// Where the handler returns to: `sa_restorer` with SA_RESTORER, else the kernel's trampoline.
    pub restorer: u64,
    /// The frame is built below this address: the interrupted stack pointer, or the top of the
    /// alternate stack when switching to it (`on_alternate_stack`).
    pub stack_pointer: u64,
    /// True when `stack_pointer` is the alternate stack's top (x86_64 then skips the red zone).
    pub on_alternate_stack: bool,
    /// The mask to save in `uc_sigmask` (restored by sigreturn).
    pub saved_mask: u64,
    /// The thread's alternate stack, saved in `uc_stack`.
    pub alt_stack: AltStack,
}

/// What `rt_sigreturn` recovered besides the registers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignalReturn {
    pub saved_mask: u64,
    pub alt_stack: AltStack,
}
