//! A minimal, bounds-checked reader of the ACPI tables a PC kernel needs before it has any
//! interpreter: the RSDP (given by the boot protocol or found in the BIOS area), the RSDT/XSDT,
//! the MADT (local APIC address, IOAPICs, ISA interrupt overrides) and the FADT's RTC century
//! register. Firmware tables are input like any other: every length, offset and checksum is
//! checked, and a broken table is reported as an error, never trusted.
//!
//! Physical memory is read through a [`PhysRead`] (the direct map on the machine, a byte array
//! in the tests). Pure logic, host-tested.

/// Reads physical memory; false if any byte of the range cannot be read.
pub trait PhysRead {
    fn read(&self, phys: u64, buf: &mut [u8]) -> bool;
}

impl<F: Fn(u64, &mut [u8]) -> bool> PhysRead for F {
    fn read(&self, phys: u64, buf: &mut [u8]) -> bool {
        self(phys, buf)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AcpiError {
    /// No RSDP at the given address or in the BIOS area, or a bad RSDP checksum.
    NoRsdp,
    /// The table could not be read (outside readable memory).
    Unreadable { address: u64 },
    /// A table's length or checksum is wrong, or an entry runs past its end.
    Corrupt { signature: [u8; 4] },
    /// The RSDT/XSDT lists no table with this signature.
    NotFound { signature: [u8; 4] },
}

/// Size of the common System Description Table header.
const SDT_HEADER: u32 = 36;
/// Tables larger than this are rejected as corrupt (real MADTs and FADTs are a few KiB).
const MAX_TABLE: u32 = 1 << 20;
/// Root-table entries looked at.
const MAX_ROOT_ENTRIES: u32 = 256;

fn read_array<const N: usize>(mem: &dyn PhysRead, phys: u64) -> Result<[u8; N], AcpiError> {
    let mut buf = [0u8; N];
    if mem.read(phys, &mut buf) {
        Ok(buf)
    } else {
        Err(AcpiError::Unreadable { address: phys })
    }
}

fn u16_at(b: &[u8], o: usize) -> u16 {
    u16::from_le_bytes([b[o], b[o + 1]])
}

fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
}

fn u64_at(b: &[u8], o: usize) -> u64 {
    let mut v = [0u8; 8];
    v.copy_from_slice(&b[o..o + 8]);
    u64::from_le_bytes(v)
}

fn checksum_ok(bytes: &[u8]) -> bool {
    bytes.iter().fold(0u8, |sum, b| sum.wrapping_add(*b)) == 0
}

/// Checks an RSDP candidate at `phys`: signature, ACPI 1.0 checksum, and for revision 2+ the
/// extended checksum. Returns the root table: `(address, is_xsdt)`.
fn parse_rsdp(mem: &dyn PhysRead, phys: u64) -> Result<(u64, bool), AcpiError> {
    let v1: [u8; 20] = read_array(mem, phys).map_err(|_| AcpiError::NoRsdp)?;
    if &v1[..8] != b"RSD PTR " || !checksum_ok(&v1) {
        return Err(AcpiError::NoRsdp);
    }
    let revision = v1[15];
    if revision >= 2 {
        let v2: [u8; 36] = read_array(mem, phys).map_err(|_| AcpiError::NoRsdp)?;
        let xsdt = u64_at(&v2, 24);
        if checksum_ok(&v2) && xsdt != 0 {
            return Ok((xsdt, true));
        }
    }
    Ok((u64::from(u32_at(&v1, 16)), false))
}

/// Where the RSDP is: the boot protocol's address if it holds one, else the first valid one on a
/// 16-byte boundary in the first KiB of the EBDA or in 0xE0000..0x100000 (the ACPI spec's
/// search areas on PC BIOS systems).
pub fn find_rsdp(mem: &dyn PhysRead, hint: Option<u64>) -> Result<u64, AcpiError> {
    if let Some(hint) = hint
        && parse_rsdp(mem, hint).is_ok()
    {
        return Ok(hint);
    }
    let ebda = read_array::<2>(mem, 0x40e)
        .map(|b| u64::from(u16::from_le_bytes(b)) << 4)
        .unwrap_or(0);
    let areas = [(ebda, ebda + 1024), (0xe0000, 0x100000)];
    for (start, end) in areas {
        if start == 0 {
            continue;
        }
        let mut p = start;
        while p < end {
            if parse_rsdp(mem, p).is_ok() {
                return Ok(p);
            }
            p += 16;
        }
    }
    Err(AcpiError::NoRsdp)
}

/// A checked table: its address and length, with a valid header and checksum.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Table {
    pub address: u64,
    pub length: u32,
    pub signature: [u8; 4],
}

impl Table {
    /// Reads and checks the table at `address`.
    fn load(mem: &dyn PhysRead, address: u64) -> Result<Self, AcpiError> {
        let header: [u8; SDT_HEADER as usize] = read_array(mem, address)?;
        let signature = [header[0], header[1], header[2], header[3]];
        let length = u32_at(&header, 4);
        if !(SDT_HEADER..=MAX_TABLE).contains(&length) {
            return Err(AcpiError::Corrupt { signature });
        }
        // Checksum over the whole table, read in pieces (there is no heap here).
        let mut sum = 0u8;
        let mut offset = 0u32;
        while offset < length {
            let mut chunk = [0u8; 64];
            let n = (length - offset).min(64) as usize;
            let at = address + u64::from(offset);
            if !mem.read(at, &mut chunk[..n]) {
                return Err(AcpiError::Unreadable { address: at });
            }
            sum = chunk[..n].iter().fold(sum, |s, b| s.wrapping_add(*b));
            offset += n as u32;
        }
        if sum != 0 {
            return Err(AcpiError::Corrupt { signature });
        }
        Ok(Self {
            address,
            length,
            signature,
        })
    }

    /// Reads `N` bytes at `offset` inside the table; `None` if that runs past its end.
    fn bytes<const N: usize>(&self, mem: &dyn PhysRead, offset: u32) -> Option<[u8; N]> {
        let end = offset.checked_add(N as u32)?;
        if end > self.length {
            return None;
        }
        read_array(mem, self.address + u64::from(offset)).ok()
    }
}

/// The root table (RSDT or XSDT) found through the RSDP.
pub struct Acpi<'a> {
    mem: &'a dyn PhysRead,
    root: Table,
    xsdt: bool,
}

impl<'a> Acpi<'a> {
    /// Finds the RSDP (see [`find_rsdp`]) and checks the root table it names.
    pub fn new(mem: &'a dyn PhysRead, rsdp_hint: Option<u64>) -> Result<Self, AcpiError> {
        let rsdp = find_rsdp(mem, rsdp_hint)?;
        let (root, xsdt) = parse_rsdp(mem, rsdp)?;
        let root = Table::load(mem, root)?;
        let expected = if xsdt { b"XSDT" } else { b"RSDT" };
        if &root.signature != expected {
            return Err(AcpiError::Corrupt {
                signature: root.signature,
            });
        }
        Ok(Self { mem, root, xsdt })
    }

    /// The first valid table with `signature` listed in the root table.
    pub fn find(&self, signature: &[u8; 4]) -> Result<Table, AcpiError> {
        let width = if self.xsdt { 8 } else { 4 };
        let entries = ((self.root.length - SDT_HEADER) / width).min(MAX_ROOT_ENTRIES);
        let mut corrupt = None;
        for i in 0..entries {
            let offset = SDT_HEADER + i * width;
            let address = if self.xsdt {
                self.root
                    .bytes::<8>(self.mem, offset)
                    .map(u64::from_le_bytes)
            } else {
                self.root
                    .bytes::<4>(self.mem, offset)
                    .map(|b| u64::from(u32::from_le_bytes(b)))
            };
            let Some(address) = address else { break };
            let Ok(sig) = read_array::<4>(self.mem, address) else {
                continue;
            };
            if &sig != signature {
                continue;
            }
            match Table::load(self.mem, address) {
                Ok(table) => return Ok(table),
                Err(e) => corrupt = Some(e),
            }
        }
        Err(corrupt.unwrap_or(AcpiError::NotFound {
            signature: *signature,
        }))
    }

    /// The interrupt-controller description (MADT, signature "APIC").
    pub fn madt(&self) -> Result<Madt, AcpiError> {
        Madt::parse(self.mem, self.find(b"APIC")?)
    }

    /// The CMOS index of the RTC century register from the FADT (`None` if the FADT has none,
    /// which the ACPI spec expresses as 0).
    pub fn rtc_century_register(&self) -> Result<Option<u8>, AcpiError> {
        let fadt = self.find(b"FACP")?;
        const CENTURY: u32 = 108;
        Ok(fadt
            .bytes::<1>(self.mem, CENTURY)
            .map(|b| b[0])
            .filter(|&r| r != 0))
    }
}

pub const MAX_IOAPICS: usize = 8;
pub const MAX_OVERRIDES: usize = 16;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct IoApicEntry {
    pub id: u8,
    pub address: u64,
    /// The first global system interrupt this IOAPIC's pin 0 delivers.
    pub gsi_base: u32,
}

/// How an interrupt input is signalled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Signalling {
    pub active_low: bool,
    pub level_triggered: bool,
}

impl Signalling {
    /// ISA interrupts: edge triggered, active high.
    pub const ISA: Self = Self {
        active_low: false,
        level_triggered: false,
    };
    /// PCI interrupts: level triggered, active low.
    pub const PCI: Self = Self {
        active_low: true,
        level_triggered: true,
    };

    /// Decodes MPS INTI flags (polarity bits 0-1, trigger mode bits 2-3; 0 = "conforms to the
    /// bus", which for the ISA bus of an override means edge/high).
    pub fn from_inti_flags(flags: u16) -> Self {
        Self {
            active_low: flags & 0b11 == 0b11,
            level_triggered: (flags >> 2) & 0b11 == 0b11,
        }
    }
}

/// An ISA IRQ wired to a different GSI, or with different signalling, than the identity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Override {
    pub isa_irq: u8,
    pub gsi: u32,
    pub signalling: Signalling,
}

/// What the MADT says about interrupt controllers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Madt {
    /// Physical address of the local APICs' registers (xAPIC mode).
    pub local_apic: u64,
    /// The machine also has the two legacy 8259 PICs (which must be masked).
    pub pcat_compat: bool,
    /// Enabled (or online-capable) processors listed.
    pub processors: u32,
    ioapics: [IoApicEntry; MAX_IOAPICS],
    ioapic_count: usize,
    overrides: [Override; MAX_OVERRIDES],
    override_count: usize,
}

impl Madt {
    fn parse(mem: &dyn PhysRead, table: Table) -> Result<Self, AcpiError> {
        let corrupt = AcpiError::Corrupt {
            signature: table.signature,
        };
        let fixed = table.bytes::<8>(mem, SDT_HEADER).ok_or(corrupt)?;
        let mut madt = Madt {
            local_apic: u64::from(u32_at(&fixed, 0)),
            pcat_compat: u32_at(&fixed, 4) & 1 != 0,
            processors: 0,
            ioapics: [IoApicEntry::default(); MAX_IOAPICS],
            ioapic_count: 0,
            overrides: [Override::default(); MAX_OVERRIDES],
            override_count: 0,
        };
        let mut offset = SDT_HEADER + 8;
        while offset < table.length {
            let [kind, len] = table.bytes::<2>(mem, offset).ok_or(corrupt)?;
            if len < 2 || offset + u32::from(len) > table.length {
                return Err(corrupt);
            }
            match (kind, len) {
                // Processor local APIC: flags bit 0 enabled, bit 1 online capable.
                (0, 8..) => {
                    let e = table.bytes::<8>(mem, offset).ok_or(corrupt)?;
                    if u32_at(&e, 4) & 0b11 != 0 {
                        madt.processors += 1;
                    }
                }
                // Processor local x2APIC.
                (9, 16..) => {
                    let e = table.bytes::<16>(mem, offset).ok_or(corrupt)?;
                    if u32_at(&e, 8) & 0b11 != 0 {
                        madt.processors += 1;
                    }
                }
                // I/O APIC.
                (1, 12..) => {
                    let e = table.bytes::<12>(mem, offset).ok_or(corrupt)?;
                    if madt.ioapic_count < MAX_IOAPICS {
                        madt.ioapics[madt.ioapic_count] = IoApicEntry {
                            id: e[2],
                            address: u64::from(u32_at(&e, 4)),
                            gsi_base: u32_at(&e, 8),
                        };
                        madt.ioapic_count += 1;
                    }
                }
                // Interrupt source override; only the ISA bus (0) is defined.
                (2, 10..) => {
                    let e = table.bytes::<10>(mem, offset).ok_or(corrupt)?;
                    if e[2] == 0 && madt.override_count < MAX_OVERRIDES {
                        madt.overrides[madt.override_count] = Override {
                            isa_irq: e[3],
                            gsi: u32_at(&e, 4),
                            signalling: Signalling::from_inti_flags(u16_at(&e, 8)),
                        };
                        madt.override_count += 1;
                    }
                }
                // Local APIC address override (64-bit).
                (5, 12..) => {
                    let e = table.bytes::<12>(mem, offset).ok_or(corrupt)?;
                    madt.local_apic = u64_at(&e, 4);
                }
                _ => {}
            }
            offset += u32::from(len);
        }
        Ok(madt)
    }

    pub fn ioapics(&self) -> &[IoApicEntry] {
        &self.ioapics[..self.ioapic_count]
    }

    pub fn overrides(&self) -> &[Override] {
        &self.overrides[..self.override_count]
    }

    /// The GSI and signalling of ISA IRQ `irq`: its override, or the identity with ISA
    /// signalling.
    pub fn isa_irq(&self, irq: u8) -> (u32, Signalling) {
        self.overrides()
            .iter()
            .find(|o| o.isa_irq == irq)
            .map(|o| (o.gsi, o.signalling))
            .unwrap_or((u32::from(irq), Signalling::ISA))
    }

    /// The signalling of GSI `gsi`: from an override that targets it, else ISA for the 16
    /// legacy inputs and PCI for the rest.
    pub fn gsi_signalling(&self, gsi: u32) -> Signalling {
        if let Some(o) = self.overrides().iter().find(|o| o.gsi == gsi) {
            return o.signalling;
        }
        if gsi < 16 {
            Signalling::ISA
        } else {
            Signalling::PCI
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    /// A sparse physical memory.
    struct Memory(RefCell<std::collections::BTreeMap<u64, u8>>);

    impl Memory {
        fn new() -> Self {
            Self(RefCell::new(Default::default()))
        }
        fn put(&self, at: u64, bytes: &[u8]) {
            let mut m = self.0.borrow_mut();
            for (i, b) in bytes.iter().enumerate() {
                m.insert(at + i as u64, *b);
            }
        }
    }

    impl PhysRead for Memory {
        fn read(&self, phys: u64, buf: &mut [u8]) -> bool {
            let m = self.0.borrow();
            for (i, b) in buf.iter_mut().enumerate() {
                match m.get(&(phys + i as u64)) {
                    Some(v) => *b = *v,
                    None => return false,
                }
            }
            true
        }
    }

    fn fix_checksum(bytes: &mut [u8], at: usize) {
        bytes[at] = 0;
        let sum = bytes.iter().fold(0u8, |s, b| s.wrapping_add(*b));
        bytes[at] = 0u8.wrapping_sub(sum);
    }

    fn table(signature: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut t = Vec::new();
        t.extend_from_slice(signature);
        t.extend_from_slice(&((36 + body.len()) as u32).to_le_bytes());
        t.extend_from_slice(&[1, 0]); // revision, checksum
        t.extend_from_slice(b"CYPHER");
        t.extend_from_slice(b"TESTTABL");
        t.extend_from_slice(&[0; 12]);
        t.extend_from_slice(body);
        fix_checksum(&mut t, 9);
        t
    }

    fn rsdp_v1(rsdt: u32) -> Vec<u8> {
        let mut r = Vec::new();
        r.extend_from_slice(b"RSD PTR ");
        r.push(0);
        r.extend_from_slice(b"BOCHS ");
        r.push(0); // revision 0
        r.extend_from_slice(&rsdt.to_le_bytes());
        fix_checksum(&mut r, 8);
        r
    }

    fn rsdp_v2(xsdt: u64) -> Vec<u8> {
        let mut r = rsdp_v1(0);
        r[15] = 2;
        fix_checksum(&mut r, 8);
        r.extend_from_slice(&36u32.to_le_bytes());
        r.extend_from_slice(&xsdt.to_le_bytes());
        r.extend_from_slice(&[0; 4]);
        fix_checksum(&mut r, 32);
        r
    }

    /// QEMU q35's MADT: one CPU, one IOAPIC at 0xfec00000, the usual ISA overrides.
    fn qemu_madt() -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(&0xfee0_0000u32.to_le_bytes());
        body.extend_from_slice(&1u32.to_le_bytes());
        body.extend_from_slice(&[0, 8, 0, 0, 1, 0, 0, 0]); // CPU 0 enabled
        body.extend_from_slice(&[0, 8, 1, 1, 0, 0, 0, 0]); // CPU 1 absent
        body.extend_from_slice(&[1, 12, 0, 0]);
        body.extend_from_slice(&0xfec0_0000u32.to_le_bytes());
        body.extend_from_slice(&0u32.to_le_bytes());
        // IRQ0 -> GSI2 (conforming), IRQ9 -> GSI9 level/high, IRQ10 -> 10 level/low.
        body.extend_from_slice(&[2, 10, 0, 0]);
        body.extend_from_slice(&2u32.to_le_bytes());
        body.extend_from_slice(&0u16.to_le_bytes());
        body.extend_from_slice(&[2, 10, 0, 9]);
        body.extend_from_slice(&9u32.to_le_bytes());
        body.extend_from_slice(&0x000du16.to_le_bytes());
        body.extend_from_slice(&[2, 10, 0, 10]);
        body.extend_from_slice(&10u32.to_le_bytes());
        body.extend_from_slice(&0x000fu16.to_le_bytes());
        body.extend_from_slice(&[4, 6, 0xff, 5, 0, 1]); // LAPIC NMI: ignored
        table(b"APIC", &body)
    }

    fn fadt(century: u8) -> Vec<u8> {
        let mut body = vec![0u8; 116 - 36];
        body[108 - 36] = century;
        table(b"FACP", &body)
    }

    fn machine(xsdt: bool) -> Memory {
        let m = Memory::new();
        m.put(0x1000_0000, &qemu_madt());
        m.put(0x1000_1000, &fadt(0x32));
        m.put(0x1000_2000, &table(b"HPET", &[0; 20]));
        let entries = [0x1000_2000u64, 0x1000_1000, 0x1000_0000];
        if xsdt {
            let body: Vec<u8> = entries.iter().flat_map(|e| e.to_le_bytes()).collect();
            m.put(0x1000_3000, &table(b"XSDT", &body));
            m.put(0xf5000, &rsdp_v2(0x1000_3000));
        } else {
            let body: Vec<u8> = entries
                .iter()
                .flat_map(|e| (*e as u32).to_le_bytes())
                .collect();
            m.put(0x1000_3000, &table(b"RSDT", &body));
            m.put(0xf5000, &rsdp_v1(0x1000_3000));
        }
        m
    }

    #[test]
    fn qemu_tables_through_rsdt_and_xsdt() {
        for xsdt in [false, true] {
            let m = machine(xsdt);
            let acpi = Acpi::new(&m, Some(0xf5000)).unwrap();
            let madt = acpi.madt().unwrap();
            assert_eq!(madt.local_apic, 0xfee0_0000);
            assert!(madt.pcat_compat);
            assert_eq!(madt.processors, 1);
            assert_eq!(
                madt.ioapics(),
                &[IoApicEntry {
                    id: 0,
                    address: 0xfec0_0000,
                    gsi_base: 0
                }]
            );
            assert_eq!(madt.overrides().len(), 3);
            assert_eq!(madt.isa_irq(0), (2, Signalling::ISA));
            assert_eq!(madt.isa_irq(4), (4, Signalling::ISA));
            assert_eq!(
                madt.isa_irq(9),
                (
                    9,
                    Signalling {
                        active_low: false,
                        level_triggered: true
                    }
                )
            );
            assert_eq!(madt.gsi_signalling(10), Signalling::PCI);
            assert_eq!(madt.gsi_signalling(16), Signalling::PCI);
            assert_eq!(madt.gsi_signalling(4), Signalling::ISA);
            assert_eq!(acpi.rtc_century_register(), Ok(Some(0x32)));
            assert_eq!(
                acpi.find(b"SSDT"),
                Err(AcpiError::NotFound {
                    signature: *b"SSDT"
                })
            );
        }
    }

    #[test]
    fn rsdp_is_found_in_the_bios_area_without_a_hint() {
        let m = machine(true);
        m.put(0x40e, &[0, 0]); // no EBDA
        assert_eq!(find_rsdp(&m, None), Ok(0xf5000));
        assert_eq!(find_rsdp(&m, Some(0x1234)), Ok(0xf5000));
        assert!(Acpi::new(&m, None).is_ok());
        // Nothing anywhere.
        let empty = Memory::new();
        assert_eq!(find_rsdp(&empty, None), Err(AcpiError::NoRsdp));
    }

    #[test]
    fn broken_tables_are_errors() {
        // Bad RSDP checksum.
        let m = machine(false);
        let mut r = rsdp_v1(0x1000_3000);
        r[8] ^= 1;
        m.put(0xf5000, &r);
        assert!(matches!(
            Acpi::new(&m, Some(0xf5000)),
            Err(AcpiError::NoRsdp)
        ));

        // Bad MADT checksum.
        let m = machine(false);
        let mut madt = qemu_madt();
        madt[40] ^= 0x80;
        m.put(0x1000_0000, &madt);
        let acpi = Acpi::new(&m, Some(0xf5000)).unwrap();
        assert_eq!(
            acpi.madt(),
            Err(AcpiError::Corrupt {
                signature: *b"APIC"
            })
        );

        // An entry whose length runs past the table, and a zero-length entry (which would loop
        // forever if trusted).
        for bad_entry in [[1u8, 40], [0, 0]] {
            let m = machine(false);
            let mut body = vec![0u8; 8];
            body.extend_from_slice(&bad_entry);
            body.extend_from_slice(&[0; 10]);
            m.put(0x1000_0000, &table(b"APIC", &body));
            let acpi = Acpi::new(&m, Some(0xf5000)).unwrap();
            assert!(acpi.madt().is_err());
        }

        // A table length smaller than its header, and one far too large.
        for len in [10u32, 0x8000_0000] {
            let m = machine(false);
            let mut t = qemu_madt();
            t[4..8].copy_from_slice(&len.to_le_bytes());
            m.put(0x1000_0000, &t);
            let acpi = Acpi::new(&m, Some(0xf5000)).unwrap();
            assert!(acpi.madt().is_err());
        }

        // The root table points into unreadable memory.
        let m = machine(false);
        m.put(0xf5000, &rsdp_v1(0x7000_0000));
        assert!(matches!(
            Acpi::new(&m, Some(0xf5000)),
            Err(AcpiError::Unreadable { .. })
        ));
    }

    #[test]
    fn short_fadt_has_no_century() {
        let m = machine(false);
        m.put(0x1000_1000, &table(b"FACP", &[0; 40]));
        let acpi = Acpi::new(&m, Some(0xf5000)).unwrap();
        assert_eq!(acpi.rtc_century_register(), Ok(None));
        m.put(0x1000_1000, &fadt(0));
        assert_eq!(acpi.rtc_century_register(), Ok(None));
    }

    #[test]
    fn inti_flags() {
        assert_eq!(Signalling::from_inti_flags(0), Signalling::ISA);
        assert_eq!(Signalling::from_inti_flags(0b1111), Signalling::PCI);
        assert_eq!(
            Signalling::from_inti_flags(0b0101),
            Signalling {
                active_low: false,
                level_triggered: false
            }
        );
    }
}
