//! Processor setup for the one CPU Cyphera runs on: feature detection, control registers,
//! the GDT (segments in the order `syscall`/`sysret` need) and TSS (ring-0 and IST stacks), the
//! IDT over the assembly trap stubs, the legacy 8259 PICs (remapped and masked), and the
//! `syscall` MSRs. Bare-metal only.

use crate::fault;
use core::arch::x86_64::{__cpuid, __cpuid_count};
use spin::Once;
use x86_64::instructions::segmentation::{CS, DS, ES, FS, GS, SS, Segment};
use x86_64::instructions::tables::{lidt, load_tss};
use x86_64::registers::control::{Cr0, Cr0Flags, Cr3, Cr3Flags, Cr4, Cr4Flags};
use x86_64::registers::model_specific::{
    Efer, EferFlags, GsBase, KernelGsBase, LStar, SFMask, Star,
};
use x86_64::registers::rflags::RFlags;
use x86_64::structures::DescriptorTablePointer;
use x86_64::structures::gdt::{Descriptor, GlobalDescriptorTable, SegmentSelector};
use x86_64::structures::paging::PhysFrame;
use x86_64::structures::tss::TaskStateSegment;
use x86_64::{PhysAddr, PrivilegeLevel, VirtAddr};

/// GDT layout: see [`crate::context::selectors`] (Linux's, so user cs/ss read 0x33/0x2b).
pub use crate::context::selectors::{
    KERNEL_CODE, KERNEL_DATA, SYSRET_BASE, TSS as TSS_SELECTOR, USER_CODE, USER_DATA,
};

/// IST slots (1-based in the IDT, 0-based in the TSS).
const IST_DOUBLE_FAULT: u8 = 1;
const IST_NMI: u8 = 2;
const IST_MACHINE_CHECK: u8 = 3;
const IST_DEBUG: u8 = 4;

/// Stacks the CPU switches to by itself: the ring-0 stack for traps from user mode (the trap
/// stub only stores the registers there and moves on), and the IST stacks for the exceptions
/// that can arrive when the current stack cannot be trusted. The linker script lays them out
/// (`__trap_stacks_start`: `TRAP_STACKS` slots of a guard page and `TRAP_STACK_SIZE` bytes of
/// stack) and the kernel page tables leave every guard page unmapped, so an overflow faults
/// instead of running into the neighbouring stack. Written only by the CPU.
pub const TRAP_STACKS: usize = 5;
pub const TRAP_STACK_SIZE: u64 = 16 * 1024;
const RING0_SLOT: usize = 0;
/// IST stack `n` (1-based, as in the IDT) is slot `n`.
const fn ist_slot(ist: u8) -> usize {
    ist as usize
}

unsafe extern "C" {
    static __trap_stacks_start: u8;
    static __trap_stacks_end: u8;
}

/// Guard page and stack of trap-stack slot `slot`, from the linker's layout.
pub fn trap_stack_slot(slot: usize) -> (hal::protection::GuardRange, u64) {
    let start = (&raw const __trap_stacks_start) as u64;
    debug_assert_eq!(
        (&raw const __trap_stacks_end) as u64 - start,
        TRAP_STACKS as u64 * (PAGE + TRAP_STACK_SIZE)
    );
    let guard = start + slot as u64 * (PAGE + TRAP_STACK_SIZE);
    (
        hal::protection::GuardRange {
            start: guard,
            end: guard + PAGE,
        },
        guard + PAGE + TRAP_STACK_SIZE,
    )
}

const PAGE: u64 = 4096;

/// CPU features the kernel acts on.
#[derive(Clone, Copy, Debug, Default)]
pub struct Features {
    pub nx: bool,
    pub global_pages: bool,
    pub smep: bool,
    pub smap: bool,
    /// User-mode instruction prevention: SGDT, SIDT, SLDT, SMSW and STR fault in ring 3.
    pub umip: bool,
    pub rdrand: bool,
    pub fxsr: bool,
    pub sse: bool,
    /// CPUID.1:EDX, which Linux reports as AT_HWCAP on x86_64.
    pub leaf1_edx: u32,
}

static FEATURES: Once<Features> = Once::new();

pub fn features() -> Features {
    *FEATURES.call_once(|| {
        let leaf1 = __cpuid(1);
        let max_ext = __cpuid(0x8000_0000).eax;
        let ext_edx = if max_ext >= 0x8000_0001 {
            __cpuid(0x8000_0001).edx
        } else {
            0
        };
        let (leaf7_ebx, leaf7_ecx) = if __cpuid(0).eax >= 7 {
            let leaf7 = __cpuid_count(7, 0);
            (leaf7.ebx, leaf7.ecx)
        } else {
            (0, 0)
        };
        Features {
            nx: ext_edx & (1 << 20) != 0,
            global_pages: leaf1.edx & (1 << 13) != 0,
            smep: leaf7_ebx & (1 << 7) != 0,
            smap: leaf7_ebx & (1 << 20) != 0,
            umip: leaf7_ecx & (1 << 2) != 0,
            rdrand: leaf1.ecx & (1 << 30) != 0,
            fxsr: leaf1.edx & (1 << 24) != 0,
            sse: leaf1.edx & (1 << 25) != 0,
            leaf1_edx: leaf1.edx,
        }
    })
}

/// Per-CPU data reached through GS in the entry assembly (offsets in `entry.rs`).
#[repr(C)]
pub struct PerCpu {
    /// Kernel stack pointer saved by `enter_user`, restored by every exit from user mode.
    pub kernel_rsp: u64,
    /// The `Context` being run.
    pub user_context: u64,
    /// The user rsp, parked during `syscall` entry.
    pub scratch: u64,
    /// Vector, error code and CR2 of the last trap from user mode.
    pub trap_vector: u64,
    pub trap_error: u64,
    pub trap_cr2: u64,
}

/// The one CPU's per-CPU area. Written by the entry assembly (through GS) and read by
/// `run_user` between entries, never concurrently (one CPU, no kernel preemption).
pub static mut PER_CPU: PerCpu = PerCpu {
    kernel_rsp: 0,
    user_context: 0,
    scratch: 0,
    trap_vector: 0,
    trap_error: 0,
    trap_cr2: 0,
};

struct Tables {
    gdt: GlobalDescriptorTable<10>,
    tss_selector: SegmentSelector,
}

static TSS: Once<TaskStateSegment> = Once::new();
static GDT: Once<Tables> = Once::new();
static IDT: Once<Idt> = Once::new();

/// One 16-byte long-mode interrupt gate.
#[derive(Clone, Copy)]
#[repr(C)]
struct Gate {
    offset_low: u16,
    selector: u16,
    ist: u8,
    type_attributes: u8,
    offset_mid: u16,
    offset_high: u32,
    reserved: u32,
}

impl Gate {
    const MISSING: Gate = Gate {
        offset_low: 0,
        selector: 0,
        ist: 0,
        type_attributes: 0,
        offset_mid: 0,
        offset_high: 0,
        reserved: 0,
    };

    /// A present 64-bit interrupt gate (IF cleared on entry) reachable by `int n` from `dpl`.
    fn interrupt(handler: u64, ist: u8, dpl: u8) -> Gate {
        Gate {
            offset_low: handler as u16,
            selector: KERNEL_CODE,
            ist,
            type_attributes: 0x80 | (dpl << 5) | 0xe,
            offset_mid: (handler >> 16) as u16,
            offset_high: (handler >> 32) as u32,
            reserved: 0,
        }
    }
}

#[repr(C, align(16))]
struct Idt([Gate; 256]);

/// Loads the GDT, TSS and IDT, programs the control registers and the `syscall` MSRs, and
/// silences the PICs. Runs first thing on every boot path, on the boot stack.
pub fn init() {
    let f = features();

    let tss = TSS.call_once(|| {
        let mut tss = TaskStateSegment::new();
        tss.privilege_stack_table[0] = VirtAddr::new(trap_stack_slot(RING0_SLOT).1);
        for ist in [IST_DOUBLE_FAULT, IST_NMI, IST_MACHINE_CHECK, IST_DEBUG] {
            tss.interrupt_stack_table[ist as usize - 1] =
                VirtAddr::new(trap_stack_slot(ist_slot(ist)).1);
        }
        tss
    });
    let tables = GDT.call_once(|| {
        // A null user segment descriptor: not present, so loading its selector faults.
        let null = || Descriptor::UserSegment(0);
        let mut gdt = GlobalDescriptorTable::<10>::empty();
        gdt.append(null()); // slot 1: Linux's 32-bit kernel code, unused
        let kc = gdt.append(Descriptor::kernel_code_segment());
        let kd = gdt.append(Descriptor::kernel_data_segment());
        let sysret = gdt.append(null()); // slot 4: Linux's 32-bit user code, absent here
        let ud = gdt.append(Descriptor::user_data_segment());
        let uc = gdt.append(Descriptor::user_code_segment());
        gdt.append(null()); // slot 7: Linux's TLS/percpu slots, unused
        let tss_selector = gdt.append(Descriptor::tss_segment(tss));
        assert_eq!(
            (kc.0, kd.0, sysret.0 | 3, ud.0, uc.0, tss_selector.0),
            (
                KERNEL_CODE,
                KERNEL_DATA,
                SYSRET_BASE,
                USER_DATA,
                USER_CODE,
                TSS_SELECTOR
            )
        );
        Tables { gdt, tss_selector }
    });
    tables.gdt.load();
    // SAFETY: the selectors name the descriptors just loaded; the TSS descriptor is unused
    // (available) because no TSS was loaded from this GDT before.
    unsafe {
        CS::set_reg(SegmentSelector::new(
            KERNEL_CODE >> 3,
            PrivilegeLevel::Ring0,
        ));
        let data = SegmentSelector::new(KERNEL_DATA >> 3, PrivilegeLevel::Ring0);
        SS::set_reg(data);
        DS::set_reg(data);
        ES::set_reg(data);
        // FS and GS bases are set through MSRs; the selectors only need to be null.
        FS::set_reg(SegmentSelector(0));
        GS::set_reg(SegmentSelector(0));
        load_tss(tables.tss_selector);
    }

    let idt = IDT.call_once(|| {
        let mut idt = Idt([Gate::MISSING; 256]);
        for (vector, gate) in idt.0.iter_mut().enumerate() {
            let vector = vector as u8;
            let ist = match vector {
                fault::DOUBLE_FAULT => IST_DOUBLE_FAULT,
                fault::NMI => IST_NMI,
                fault::MACHINE_CHECK => IST_MACHINE_CHECK,
                // #DB can hit the first kernel instruction after a user `syscall` with TF set,
                // while rsp is still the user's: it must never run on the current stack.
                fault::DEBUG => IST_DEBUG,
                _ => 0,
            };
            // int3 and into are meant to be executed by programs (Linux allows both).
            let dpl = if matches!(vector, fault::BREAKPOINT | fault::OVERFLOW) {
                3
            } else {
                0
            };
            *gate = Gate::interrupt(crate::entry::trap_stub(vector), ist, dpl);
        }
        idt
    });
    let pointer = DescriptorTablePointer {
        limit: (core::mem::size_of::<Idt>() - 1) as u16,
        base: VirtAddr::from_ptr(idt),
    };
    // SAFETY: the IDT is a static that lives forever and every gate points at a trap stub.
    unsafe { lidt(&pointer) };

    // SAFETY: each flag below is supported (checked) or architectural in long mode: WP makes
    // read-only pages read-only for the kernel too, NE reports x87 errors as #MF, MP with EM
    // clear lets user code use x87/SSE, AM enables alignment checks for user code that sets
    // EFLAGS.AC, and TS clear means no lazy-FPU traps.
    unsafe {
        Cr0::update(|cr0| {
            cr0.insert(
                Cr0Flags::WRITE_PROTECT
                    | Cr0Flags::NUMERIC_ERROR
                    | Cr0Flags::MONITOR_COPROCESSOR
                    | Cr0Flags::ALIGNMENT_MASK,
            );
            cr0.remove(Cr0Flags::EMULATE_COPROCESSOR | Cr0Flags::TASK_SWITCHED);
        });
        Cr4::update(|cr4| {
            if f.fxsr {
                cr4.insert(Cr4Flags::OSFXSR);
            }
            if f.sse {
                cr4.insert(Cr4Flags::OSXMMEXCPT_ENABLE);
            }
            if f.global_pages {
                cr4.insert(Cr4Flags::PAGE_GLOBAL);
            }
            // The kernel never executes or touches user pages through user addresses (all
            // copies go through the direct map), so both protections cost nothing.
            if f.smep {
                cr4.insert(Cr4Flags::SUPERVISOR_MODE_EXECUTION_PROTECTION);
            }
            if f.smap {
                cr4.insert(Cr4Flags::SUPERVISOR_MODE_ACCESS_PREVENTION);
            }
            // The descriptor-table instructions would tell user code where the GDT, IDT and
            // TSS live (kernel addresses); nothing legitimate in user mode needs them.
            if f.umip {
                cr4.insert(Cr4Flags::USER_MODE_INSTRUCTION_PREVENTION);
            }
        });
        Efer::update(|efer| {
            efer.insert(EferFlags::SYSTEM_CALL_EXTENSIONS);
            if f.nx {
                efer.insert(EferFlags::NO_EXECUTE_ENABLE);
            }
        });
    }
    crate::paging::set_nx_supported(f.nx);
    // Deliberately no CR4.OSXSAVE: with it clear, CPUID reports OSXSAVE = 0 and AVX/AVX-512
    // state is unusable (VEX/EVEX instructions raise #UD), so programs stay on SSE, whose
    // registers the per-context `fxsave` image covers completely. Enabling XSAVE would need a
    // per-context XSAVE area sized from CPUID 0xD and the XSAVE signal-frame format.
    probe_mxcsr_mask();

    Star::write(
        SegmentSelector(USER_CODE),
        SegmentSelector(USER_DATA),
        SegmentSelector(KERNEL_CODE),
        SegmentSelector(KERNEL_DATA),
    )
    .expect("GDT order fits STAR");
    LStar::write(VirtAddr::new(crate::entry::syscall_entry_address()));
    // Flags cleared on `syscall`: no interrupts, string ops forward, no single-step, no
    // alignment checks or SMAP override, no nested-task or I/O privilege from user mode.
    SFMask::write(
        RFlags::INTERRUPT_FLAG
            | RFlags::DIRECTION_FLAG
            | RFlags::TRAP_FLAG
            | RFlags::ALIGNMENT_CHECK
            | RFlags::NESTED_TASK
            | RFlags::IOPL_HIGH
            | RFlags::IOPL_LOW,
    );
    GsBase::write(VirtAddr::from_ptr(&raw const PER_CPU));
    KernelGsBase::write(VirtAddr::zero());

    pic::init();
}

/// Records which MXCSR bits this CPU implements (the MXCSR_MASK field of an `fxsave` image),
/// so that signal frames with bits `fxrstor` would refuse are rejected before they reach it.
fn probe_mxcsr_mask() {
    #[repr(C, align(16))]
    struct Image([u8; 512]);
    let mut image = Image([0; 512]);
    // SAFETY: CR4.OSFXSR is set above; `fxsave64` writes exactly the 512 bytes of the aligned
    // buffer and changes no register.
    unsafe {
        core::arch::asm!("fxsave64 [{}]", in(reg) image.0.as_mut_ptr(), options(nostack));
    }
    let mask = u32::from_le_bytes([image.0[28], image.0[29], image.0[30], image.0[31]]);
    crate::context::set_mxcsr_mask(mask);
}

/// Makes the page tables at physical `root` the active ones.
pub fn load_root(root: u64) {
    // SAFETY: callers pass a PML4 whose upper half maps the kernel exactly as the current one
    // does (every PML4 is built that way), so execution continues undisturbed.
    unsafe {
        Cr3::write(
            PhysFrame::containing_address(PhysAddr::new(root)),
            Cr3Flags::empty(),
        );
    }
}

/// Physical address of the active PML4.
pub fn active_root() -> u64 {
    Cr3::read_raw().0.start_address().as_u64()
}

/// The two 8259 PICs: remapped away from the exception vectors and fully masked (interrupts
/// come from nothing yet), with the spurious-IRQ rules for acknowledging.
pub mod pic {
    use crate::fault::PIC_VECTOR_BASE;
    use x86_64::instructions::port::Port;

    const MASTER_COMMAND: u16 = 0x20;
    const MASTER_DATA: u16 = 0x21;
    const SLAVE_COMMAND: u16 = 0xa0;
    const SLAVE_DATA: u16 = 0xa1;
    const EOI: u8 = 0x20;
    const READ_ISR: u8 = 0x0b;

    fn out(port: u16, value: u8) {
        // SAFETY: the PIC ports exist on every PC and only affect interrupt delivery.
        unsafe { Port::new(port).write(value) };
        // A write to the unused port 0x80 gives old PICs time to settle.
        // SAFETY: port 0x80 is the POST diagnostic port, writes have no effect.
        unsafe { Port::<u8>::new(0x80).write(0) };
    }

    fn input(port: u16) -> u8 {
        // SAFETY: reading a PIC register has no side effect.
        unsafe { Port::new(port).read() }
    }

    pub fn init() {
        out(MASTER_COMMAND, 0x11); // ICW1: edge triggered, cascade, ICW4 follows
        out(SLAVE_COMMAND, 0x11);
        out(MASTER_DATA, PIC_VECTOR_BASE); // ICW2: vector base
        out(SLAVE_DATA, PIC_VECTOR_BASE + 8);
        out(MASTER_DATA, 0x04); // ICW3: slave on IRQ2
        out(SLAVE_DATA, 0x02); // its cascade identity
        out(MASTER_DATA, 0x01); // ICW4: 8086 mode
        out(SLAVE_DATA, 0x01);
        out(MASTER_DATA, 0xff); // mask everything
        out(SLAVE_DATA, 0xff);
    }

    fn in_service(command: u16) -> u8 {
        out(command, READ_ISR);
        input(command)
    }

    /// Acknowledges PIC vector `vector` (32..48). A spurious IRQ 7/15 (not in service) must not
    /// be acknowledged at its own PIC; a spurious IRQ 15 still needs the master's EOI for the
    /// cascade.
    pub fn acknowledge(vector: u8) {
        let irq = vector - PIC_VECTOR_BASE;
        if irq == 7 && in_service(MASTER_COMMAND) & 0x80 == 0 {
            return;
        }
        if irq == 15 && in_service(SLAVE_COMMAND) & 0x80 == 0 {
            out(MASTER_COMMAND, EOI);
            return;
        }
        if irq >= 8 {
            out(SLAVE_COMMAND, EOI);
        }
        out(MASTER_COMMAND, EOI);
    }
}
