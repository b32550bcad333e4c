//! Property tests of the boot path's device-tree handling (`arch_aarch64::dtb`): whatever bytes
//! the firmware hands over, `total_size`, `parse`, `collect_memory`, `chosen` and the memory map
//! built from them never panic; a tree that `parse` accepts is one that every lookup the kernel
//! makes through the `fdt` crate survives; and for well-formed trees the results agree with a
//! reference model computed from the tree as written.
//!
//! Inputs: arbitrary bytes, the QEMU `virt` DTBs in `testdata/` with bytes and header fields
//! damaged, and random trees written token by token then damaged (NOP tokens over removed nodes
//! as QEMU's `fdt_nop_node` leaves them, tokens inserted, removed or swapped). `PROPTEST_CASES`
//! raises the case counts.

#[path = "support/fdt.rs"]
mod fdt_support;

use arch_aarch64::dtb::{self, Chosen, DtbError};
use arch_aarch64::memmap::{self, MemoryFacts};
use fdt::Fdt;
use fdt_support::{Node, Token, be32, be64, cstr};
use hal::boot::{BootInfo, BootProtocol, MemoryKind, PhysRange};
use proptest::prelude::*;
use proptest::test_runner::Config;

const VIRT_512M: &[u8] = include_bytes!("../testdata/qemu-virt-512m.dtb");
const VIRT_2G: &[u8] = include_bytes!("../testdata/qemu-virt-gicv3-2g.dtb");

fn config(cases: u32) -> Config {
    let mut config = Config {
        failure_persistence: None,
        ..Config::default()
    };
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = cases;
    }
    config
}

/// What the qemu-virt board and the drivers' device-tree helpers look up by path.
const VIRT_LOOKUPS: dtb::Lookups<'static> = dtb::Lookups {
    paths: &["/psci"],
    stdout_path: true,
};

/// Everything the boot path does with a tree [`dtb::parse`] accepted, plus what needs no lookup
/// by path: every node's properties, `compatible`, `reg` and interrupt cells as the drivers'
/// `find_compatible` and `interrupt` read them, phandles, the root's `model`, and the memory
/// map built from the facts.
fn exercise(fdt: &Fdt<'_>) -> (Result<MemoryFacts, DtbError>, Chosen<'static>) {
    let mut facts = MemoryFacts::default();
    let memory = dtb::collect_memory(fdt, &mut facts).map(|()| facts.clone());
    let mut boot = BootInfo::new(BootProtocol::LinuxArm64Image);
    memmap::build(&mut boot, &facts);
    let map = boot.memory_map();
    for pair in map.windows(2) {
        assert!(
            pair[0].range.end() <= pair[1].range.start,
            "overlapping map"
        );
    }
    let chosen = dtb::chosen(fdt);
    let chosen = Chosen {
        bootargs: chosen.bootargs.to_vec().leak(),
        initrd: chosen.initrd,
    };
    for node in fdt.all_nodes() {
        for p in node.properties() {
            let _ = (p.as_str(), p.as_usize());
        }
        if let Some(c) = node.compatible() {
            let _ = c.all().count();
        }
        let _ = node.reg().map(|r| r.count());
        let _ = node.interrupt_cells();
    }
    let _ = fdt.find_phandle(1);
    let _ = fdt.root().property("model").and_then(|p| p.as_str());
    let _ = fdt.memory_reservations().count();
    (memory, chosen)
}

/// The board's lookups on a tree [`dtb::parse_for`] accepted with [`VIRT_LOOKUPS`]: `/psci`, and
/// `/chosen/stdout-path` resolved as `drivers::devicetree::stdout_node` does.
fn exercise_board(fdt: &Fdt<'_>) {
    if let Some(psci) = fdt.find_node("/psci") {
        let _ = psci.compatible().map(|c| c.all().count());
        let _ = psci.property("method").and_then(|p| p.as_str());
    }
    let stdout = fdt
        .find_node("/chosen")
        .and_then(|c| c.property("stdout-path"))
        .and_then(|p| p.as_str())
        .and_then(|path| path.split(':').next())
        .and_then(|path| fdt.find_node(path));
    if let Some(node) = stdout {
        let _ = node.compatible().map(|c| c.all().count());
        let _ = node.reg().map(|r| r.count());
    }
}

/// `total_size`, then `parse` and `parse_for` and, where they accept, what the kernel does next.
fn check_bytes(bytes: &[u8]) -> Option<(Result<MemoryFacts, DtbError>, Chosen<'static>)> {
    if let Some(size) = dtb::total_size(bytes) {
        assert_eq!(
            size as u32,
            u32::from_be_bytes(bytes[4..8].try_into().unwrap())
        );
        assert!(size >= 40);
    }
    if let Ok(fdt) = dtb::parse_for(bytes, VIRT_LOOKUPS) {
        assert!(dtb::parse(bytes).is_ok(), "more lookups, yet accepted");
        exercise_board(&fdt);
    }
    match dtb::parse(bytes) {
        Ok(fdt) => {
            assert!(dtb::total_size(bytes).is_some_and(|size| size <= bytes.len()));
            Some(exercise(&fdt))
        }
        Err(e) => {
            assert_eq!(e, DtbError::Invalid);
            None
        }
    }
}

// ---- the reference model, from the tree as written ----

fn word(v: &[u8]) -> u32 {
    u32::from_be_bytes(v[..4].try_into().unwrap())
}

fn as_str(v: &[u8]) -> Option<&str> {
    std::str::from_utf8(v)
        .ok()
        .map(|s| s.trim_end_matches('\0'))
}

/// `(#address-cells, #size-cells)` a node gives its children (the last of each wins, as fdt
/// reads them; 2 and 1 when absent).
fn cells_of(node: Option<&Node>) -> (usize, usize) {
    let (mut a, mut s) = (2, 1);
    for (n, v) in node.map_or(&[][..], |n| &n.props[..]) {
        match n.as_str() {
            "#address-cells" => a = word(v) as usize,
            "#size-cells" => s = word(v) as usize,
            _ => {}
        }
    }
    (a, s)
}

/// `(address, size)` of each complete `reg` entry with a size.
fn regs(node: &Node, parent: Option<&Node>) -> Vec<(u64, u64)> {
    let (a, s) = cells_of(parent);
    let Some(mut reg) = node.get("reg") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if a > 2 || s > 2 || a == 0 {
        return out;
    }
    let take = |reg: &mut &[u8], words: usize| -> Option<u64> {
        let bytes = reg.get(..4 * words)?;
        *reg = &reg[4 * words..];
        Some(bytes.iter().fold(0u64, |acc, &b| acc << 8 | u64::from(b)))
    };
    while let Some(address) = take(&mut reg, a) {
        let size = match s {
            0 => None,
            _ => match take(&mut reg, s) {
                Some(size) => Some(size),
                None => break,
            },
        };
        if let Some(size) = size {
            out.push((address, size));
        }
    }
    out
}

fn disabled(node: &Node) -> bool {
    node.get("status")
        .and_then(as_str)
        .is_some_and(|s| s != "okay" && s != "ok")
}

/// The first child of the root whose name before `@` is `name` (fdt's `find_node("/name")`).
fn root_child<'a>(root: &'a Node, name: &str) -> Option<&'a Node> {
    root.children
        .iter()
        .find(|c| c.name.split('@').next() == Some(name))
}

fn model_memory(root: &Node, reservations: &[(u64, u64)]) -> Result<MemoryFacts, DtbError> {
    let mut facts = MemoryFacts::default();
    let mut all = Vec::new();
    root.walk(None, &mut all);
    for (node, parent) in all {
        let name = if node.name.is_empty() {
            "/"
        } else {
            &node.name
        };
        let memory_name = name == "memory" || name.starts_with("memory@");
        let device_type = node.get("device_type").and_then(as_str);
        if !memory_name || device_type.is_some_and(|t| t != "memory") || disabled(node) {
            continue;
        }
        for (address, size) in regs(node, parent) {
            facts.add_ram(PhysRange::new(address, size));
        }
    }
    if facts.ram.is_empty() {
        return Err(DtbError::NoMemory);
    }
    if let Some(reserved) = root_child(root, "reserved-memory") {
        for child in reserved.children.iter().filter(|c| !disabled(c)) {
            for (address, size) in regs(child, Some(reserved)) {
                facts.add_hole(PhysRange::new(address, size), MemoryKind::Reserved);
            }
        }
    }
    for &(address, size) in reservations {
        if (address, size) == (0, 0) {
            break;
        }
        facts.add_hole(PhysRange::new(address, size), MemoryKind::Reserved);
    }
    Ok(facts)
}

fn model_chosen(root: &Node) -> Chosen<'static> {
    let Some(chosen) = root_child(root, "chosen") else {
        return Chosen::default();
    };
    let bootargs = chosen
        .get("bootargs")
        .map(|v| v.split(|&b| b == 0).next().unwrap_or(&[]))
        .unwrap_or(&[]);
    let number = |name: &str| {
        chosen.get(name).and_then(|v| match v.len() {
            4 => Some(u64::from(word(v))),
            8 => Some(u64::from_be_bytes(v.try_into().unwrap())),
            _ => None,
        })
    };
    let initrd = match (number("linux,initrd-start"), number("linux,initrd-end")) {
        (Some(s), Some(e)) if e > s => Some(PhysRange::new(s, e - s)),
        _ => None,
    };
    Chosen {
        bootargs: bootargs.to_vec().leak(),
        initrd,
    }
}

/// Trees the checks must accept: no short `#address-cells`/`#size-cells` (fdt 0.1.5 panics on
/// those) and no `/aliases` (an alias naming itself sends fdt's lookup into endless recursion,
/// which the checks refuse).
fn plainly_valid(root: &Node) -> bool {
    let mut all = Vec::new();
    root.walk(None, &mut all);
    let short_cells = all.iter().any(|(n, _)| {
        n.props
            .iter()
            .any(|(name, v)| (name == "#address-cells" || name == "#size-cells") && v.len() < 4)
    });
    !short_cells && root_child(root, "aliases").is_none()
}

fn facts_list(f: &MemoryFacts) -> (Vec<PhysRange>, Vec<(PhysRange, MemoryKind)>) {
    (f.ram.iter().collect(), f.holes.iter().collect())
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn arbitrary_bytes(
        header in prop::option::of((0u32..0x400, 0u32..0x400, 0u32..0x400, 0u32..0x400, 0u32..0x400)),
        body in prop::collection::vec(any::<u8>(), 0..600),
    ) {
        let mut bytes = Vec::new();
        if let Some((a, b, c, d, e)) = header {
            // A plausible header (magic, sizes) in front of random contents.
            for v in [0xd00d_feed, 40 + body.len() as u32, a, b, c, 17, 16, 0, d, e] {
                bytes.extend_from_slice(&u32::to_be_bytes(v));
            }
        }
        bytes.extend_from_slice(&body);
        check_bytes(&bytes);
    }

    #[test]
    fn damaged_qemu_trees(
        which in any::<bool>(),
        edits in prop::collection::vec(fdt_support::byte_edit(), 1..6),
    ) {
        let mut bytes = if which { VIRT_512M } else { VIRT_2G }.to_vec();
        fdt_support::apply(&mut bytes, &edits);
        check_bytes(&bytes);
    }

    #[test]
    fn damaged_random_trees(
        root in fdt_support::tree(12),
        token_edits in prop::collection::vec(fdt_support::token_edit(), 0..5),
        byte_edits in prop::collection::vec(fdt_support::byte_edit(), 0..3),
    ) {
        let mut tokens = fdt_support::tokens(&root);
        fdt_support::damage(&mut tokens, &token_edits);
        let mut bytes = fdt_support::write(&tokens, &[(0x4800_0000, 0x1000)]);
        fdt_support::apply(&mut bytes, &byte_edits);
        check_bytes(&bytes);
    }

    /// Well-formed trees: accepted (unless fdt would fail on them), and read as the model says.
    #[test]
    fn random_trees_match_the_model(
        root in fdt_support::tree(12),
        reservations in prop::collection::vec((any::<u64>(), prop_oneof![Just(0u64), any::<u64>()]), 0..3),
    ) {
        let bytes = fdt_support::write(&fdt_support::tokens(&root), &reservations);
        match check_bytes(&bytes) {
            Some((memory, chosen)) => {
                let want = model_memory(&root, &reservations);
                prop_assert_eq!(memory.as_ref().map(facts_list), want.as_ref().map(facts_list));
                prop_assert_eq!(chosen, model_chosen(&root));
            }
            None => prop_assert!(!plainly_valid(&root), "a well-formed tree was refused"),
        }
    }

    /// QEMU removes nodes by overwriting them with NOP tokens: such trees never panic, and the
    /// ones whose removed nodes come after `/chosen` and `/reserved-memory` read as before.
    #[test]
    fn nopped_qemu_trees(which in any::<bool>(), nodes in prop::collection::vec(any::<prop::sample::Index>(), 1..4)) {
        let base = if which { VIRT_512M } else { VIRT_2G };
        let mut bytes = base.to_vec();
        for n in &nodes {
            nop_out_nth_node(&mut bytes, n);
        }
        check_bytes(&bytes);
    }
}

/// Overwrites the `index`-th node after the root (in document order) with NOP tokens, as
/// QEMU's `fdt_nop_node` does, working on the bytes of a real tree.
fn nop_out_nth_node(bytes: &mut [u8], index: &prop::sample::Index) {
    let off = u32::from_be_bytes(bytes[8..12].try_into().unwrap()) as usize;
    let size = u32::from_be_bytes(bytes[36..40].try_into().unwrap()) as usize;
    let word = |b: &[u8], at: usize| u32::from_be_bytes(b[at..at + 4].try_into().unwrap());
    // Token starts of every node but the root, and where each ends.
    let mut starts = Vec::new();
    let mut stack = Vec::new();
    let mut spans = Vec::new();
    let mut at = off;
    while at < off + size {
        match word(bytes, at) {
            1 => {
                let name_end = bytes[at + 4..].iter().position(|&b| b == 0).unwrap();
                stack.push(at);
                if stack.len() > 1 {
                    starts.push(at);
                }
                at = (at + 4 + name_end + 1 + 3) & !3;
            }
            2 => {
                let start = stack.pop().unwrap();
                spans.push((start, at + 4));
                at += 4;
            }
            3 => {
                let len = word(bytes, at + 4) as usize;
                at = (at + 12 + len + 3) & !3;
            }
            4 => at += 4,
            _ => break,
        }
    }
    if starts.is_empty() {
        return;
    }
    let start = starts[index.index(starts.len())];
    let (_, end) = spans.iter().find(|(s, _)| *s == start).copied().unwrap();
    for w in (start..end).step_by(4) {
        bytes[w..w + 4].copy_from_slice(&4u32.to_be_bytes());
    }
}

// ---- regressions: the inputs on which fdt 0.1.5 panics (or recurses without end), refused by
// the checks, and trees like QEMU's raspi4b, which must still boot ----

fn tree_bytes(root: &Node) -> Vec<u8> {
    fdt_support::write(&fdt_support::tokens(root), &[])
}

fn memory_node() -> Node {
    Node::new("memory@40000000")
        .prop("device_type", &cstr("memory"))
        .prop("reg", &[be64(0x4000_0000), be64(0x2000_0000)].concat())
}

/// Asserts that `fdt` itself panics on `bytes` in `what` (so the refusal is needed), and that
/// the checks refuse the bytes.
fn fdt_panics_and_parse_refuses(bytes: &[u8], what: impl Fn(&Fdt<'_>) + std::panic::RefUnwindSafe) {
    let raw = Fdt::new(bytes).expect("fdt's own header check passes");
    let outcome = std::panic::catch_unwind(|| what(&raw));
    assert!(
        outcome.is_err(),
        "fdt 0.1.5 no longer panics here: the check may be relaxed"
    );
    assert_eq!(dtb::parse(bytes).err(), Some(DtbError::Invalid));
}

#[test]
fn refuses_a_structure_block_past_the_end() {
    let mut bytes = tree_bytes(&Node::new("").child(memory_node()));
    let size = u32::from_be_bytes(bytes[36..40].try_into().unwrap());
    bytes[36..40].copy_from_slice(&(size + 0x100).to_be_bytes());
    fdt_panics_and_parse_refuses(&bytes, |f| {
        f.all_nodes().count();
    });
}

#[test]
fn refuses_a_strings_block_past_the_end() {
    let mut bytes = tree_bytes(&Node::new("").child(memory_node()));
    bytes[12..16].copy_from_slice(&0xffff_0000u32.to_be_bytes());
    fdt_panics_and_parse_refuses(&bytes, |f| {
        let _ = f.all_nodes().count();
    });
}

#[test]
fn refuses_a_memory_reservation_block_past_the_end() {
    let mut bytes = tree_bytes(&Node::new("").child(memory_node()));
    bytes[16..20].copy_from_slice(&0x10_0000u32.to_be_bytes());
    fdt_panics_and_parse_refuses(&bytes, |f| {
        let _ = f.memory_reservations().count();
    });
}

#[test]
fn refuses_a_property_longer_than_the_block() {
    let root = Node::new("").child(memory_node());
    let mut tokens = fdt_support::tokens(&root);
    // A property whose length runs past the structure block: written short, length patched.
    tokens.insert(1, Token::Prop("model".into(), cstr("x")));
    let mut bytes = fdt_support::write(&tokens, &[]);
    let off = u32::from_be_bytes(bytes[8..12].try_into().unwrap()) as usize;
    // Root: BEGIN + empty name (8 bytes), then the model property's length word.
    bytes[off + 12..off + 16].copy_from_slice(&0x10_0000u32.to_be_bytes());
    fdt_panics_and_parse_refuses(&bytes, |f| {
        let _ = f.all_nodes().count();
    });
}

#[test]
fn refuses_a_property_name_outside_the_strings_block() {
    let mut bytes = tree_bytes(&Node::new("").prop("model", &cstr("x")).child(memory_node()));
    let off = u32::from_be_bytes(bytes[8..12].try_into().unwrap()) as usize;
    bytes[off + 16..off + 20].copy_from_slice(&0x1_0000u32.to_be_bytes());
    fdt_panics_and_parse_refuses(&bytes, |f| {
        let _ = f.all_nodes().count();
    });
}

#[test]
fn refuses_a_node_name_that_is_not_utf8() {
    let root = Node::new("").child(memory_node()).child(Node::new("soc"));
    let mut bytes = tree_bytes(&root);
    let at = bytes.windows(4).position(|w| w == b"soc\0").unwrap();
    bytes[at] = 0xff;
    fdt_panics_and_parse_refuses(&bytes, |f| {
        let _ = f.all_nodes().count();
    });
}

#[test]
fn refuses_short_cell_counts() {
    let root = Node::new("")
        .prop("#address-cells", &[0, 2])
        .child(memory_node());
    fdt_panics_and_parse_refuses(&tree_bytes(&root), |f| {
        for n in f.all_nodes() {
            let _ = n.reg().map(|r| r.count());
        }
    });
}

#[test]
fn refuses_nesting_deeper_than_fdt_can_track() {
    let mut node = Node::new("leaf");
    for i in 0..70 {
        node = Node::new(&format!("n{i}")).child(node);
    }
    let root = Node::new("").child(memory_node()).child(node);
    fdt_panics_and_parse_refuses(&tree_bytes(&root), |f| {
        let _ = f.all_nodes().count();
    });
}

#[test]
fn refuses_unbalanced_nodes() {
    let root = Node::new("").child(memory_node());
    let mut tokens = fdt_support::tokens(&root);
    // One END_NODE too many before FDT_END: fdt's all_nodes steps its parent index below zero.
    tokens.insert(tokens.len() - 1, Token::EndNode);
    let bytes = fdt_support::write(&tokens, &[]);
    fdt_panics_and_parse_refuses(&bytes, |f| {
        let _ = f.all_nodes().count();
    });
}

/// A NOP run between two children of a node that a lookup skips: fdt's `skip_current_node`
/// asserts on it. Here `/soc` precedes `/chosen`, so finding `/chosen` skips `/soc`.
#[test]
fn refuses_nops_inside_a_node_that_a_lookup_skips() {
    let soc = Node::new("soc")
        .child(Node::new("a@1"))
        .child(Node::new("b@2"))
        .child(Node::new("c@3"));
    let root = Node::new("")
        .child(memory_node())
        .child(soc)
        .child(Node::new("chosen").prop("bootargs", &cstr("x")));
    let mut tokens = fdt_support::tokens(&root);
    let b = tokens
        .iter()
        .position(|t| *t == Token::Begin("b@2".into()))
        .unwrap();
    // b@2 is BEGIN, END_NODE: NOP it out as QEMU would.
    tokens.splice(b..b + 2, [Token::Nop, Token::Nop, Token::Nop]);
    fdt_panics_and_parse_refuses(&fdt_support::write(&tokens, &[]), |f| {
        let _ = f.find_node("/chosen");
    });
}

/// `/aliases/serial0 = "serial0"` and `stdout-path = "serial0"`: fdt's `find_node("serial0")`
/// finds no node, falls back to the alias, looks its value ("serial0") up, falls back again, ...
/// until the stack overflows (which a test cannot catch: shown here by the alias resolving to
/// itself). The boot path does not follow stdout-path, so only `parse_for` with it refuses.
#[test]
fn refuses_an_alias_that_names_itself() {
    let root = Node::new("")
        .child(memory_node())
        .child(Node::new("aliases").prop("serial0", &cstr("serial0")))
        .child(Node::new("chosen").prop("stdout-path", &cstr("serial0:115200")));
    let bytes = tree_bytes(&root);
    let raw = Fdt::new(&bytes).unwrap();
    assert_eq!(raw.aliases().unwrap().resolve("serial0"), Some("serial0"));
    assert!(dtb::parse(&bytes).is_ok());
    assert_eq!(
        dtb::parse_for(&bytes, VIRT_LOOKUPS).err(),
        Some(DtbError::Invalid)
    );
    // An alias naming /chosen's own path loops in the boot path's lookup too.
    let root = Node::new("")
        .child(memory_node())
        .child(Node::new("aliases").prop("/chosen", &cstr("/chosen")));
    assert_eq!(
        dtb::parse(&tree_bytes(&root)).err(),
        Some(DtbError::Invalid)
    );
}

/// The shape of QEMU's raspi4b tree (from the Linux bcm2711-rpi-4-b.dtb after QEMU removed
/// nodes): NOP runs inside `/soc` and at the root, all after `/aliases`, `/chosen` and
/// `/reserved-memory`. fdt survives every lookup the kernel makes on it, so it must boot.
#[test]
fn accepts_nop_runs_that_no_lookup_steps_over() {
    let soc = Node::new("soc")
        .prop("#address-cells", &be32(1))
        .prop("#size-cells", &be32(1))
        .child(Node::new("watchdog@7e100000"))
        .child(Node::new("thermal@7d5d2200"))
        .child(Node::new("serial@7e201000").prop("compatible", &cstr("arm,pl011")));
    let root = Node::new("")
        .prop("#address-cells", &be32(2))
        .prop("#size-cells", &be32(1))
        .child(
            Node::new("memory@0")
                .prop("device_type", &cstr("memory"))
                .prop("reg", &[be64(0), be32(0x3c00_0000)].concat()),
        )
        .child(Node::new("aliases").prop("serial0", &cstr("/soc/serial@7e201000")))
        .child(
            Node::new("chosen")
                .prop("bootargs", &cstr("console=ttyAMA0"))
                .prop("stdout-path", &cstr("serial0:115200n8")),
        )
        .child(
            Node::new("reserved-memory")
                .prop("#address-cells", &be32(2))
                .prop("#size-cells", &be32(1))
                .child(
                    Node::new("linux,cma")
                        .prop("reg", &[be64(0x1000_0000), be32(0x100_0000)].concat()),
                ),
        )
        .child(soc)
        .child(Node::new("leds"))
        .child(Node::new("wifi-pwrseq"));
    let mut tokens = fdt_support::tokens(&root);
    for name in ["thermal@7d5d2200", "leds"] {
        let at = tokens
            .iter()
            .position(|t| *t == Token::Begin(name.into()))
            .unwrap();
        let words = 1 + (name.len() + 1).div_ceil(4) + 1;
        tokens.splice(at..at + 2, std::iter::repeat_n(Token::Nop, words));
    }
    let bytes = fdt_support::write(&tokens, &[]);
    // The qemu-virt board's `/psci` lookup would step over /soc: fdt panics there, so a board
    // making it must refuse such a tree.
    let raw = Fdt::new(&bytes).unwrap();
    assert!(std::panic::catch_unwind(|| raw.find_node("/psci").is_none()).is_err());
    assert_eq!(
        dtb::parse_for(&bytes, VIRT_LOOKUPS).err(),
        Some(DtbError::Invalid)
    );
    let (memory, chosen) = check_bytes(&bytes).expect("a raspi4b-like tree was refused");
    let memory = memory.unwrap();
    assert_eq!(
        memory.ram.iter().collect::<Vec<_>>(),
        [PhysRange::new(0, 0x3c00_0000)]
    );
    assert_eq!(
        memory.holes.iter().collect::<Vec<_>>(),
        [(
            PhysRange::new(0x1000_0000, 0x100_0000),
            MemoryKind::Reserved
        )]
    );
    assert_eq!(chosen.bootargs, b"console=ttyAMA0");
}

#[test]
fn the_qemu_fixtures_are_accepted() {
    for bytes in [VIRT_512M, VIRT_2G] {
        assert!(dtb::parse_for(bytes, VIRT_LOOKUPS).is_ok());
        let (memory, _) = check_bytes(bytes).expect("QEMU's tree was refused");
        assert_eq!(memory.unwrap().ram.len(), 1);
    }
}
