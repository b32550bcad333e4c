//! Property tests of the drivers' device-tree helpers (`drivers::devicetree`, and the generic
//! timer's `probe` built on them). The kernel hands them only trees that the boot path's check
//! accepted (`arch_aarch64::dtb::parse_for`, with the stdout-path lookup they make), so that is
//! the gate here too: on every accepted tree — arbitrary bytes, damaged QEMU `virt` trees,
//! random trees damaged token by token — no helper panics, and on well-formed random trees
//! `find_compatible`, `reg`, `map_reg`, `stdout_node` and `interrupt` agree with a reference
//! model read off the tree as written. `PROPTEST_CASES` raises the case counts.

#[path = "../../arch/aarch64/tests/support/fdt.rs"]
mod fdt_support;

use arch_aarch64::dtb::{self, Lookups};
use core::cell::Cell;
use core::ptr::NonNull;
use drivers::arm_generic_timer;
use drivers::devicetree::{self, InterruptSpec};
use fdt::Fdt;
use fdt::node::FdtNode;
use fdt_support::Node;
use proptest::prelude::*;
use proptest::test_runner::Config;

const VIRT_GICV2: &[u8] = include_bytes!("../../arch/aarch64/testdata/qemu-virt-512m.dtb");
const VIRT_GICV3: &[u8] = include_bytes!("../../arch/aarch64/testdata/qemu-virt-gicv3-2g.dtb");

/// The lookups these helpers make by path.
const LOOKUPS: Lookups<'static> = Lookups {
    paths: &[],
    stdout_path: true,
};

/// Compatible strings the kernel's drivers probe for.
const COMPATIBLES: &[&[&str]] = &[
    &["arm,pl011"],
    &["arm,pl031"],
    &["arm,gic-v3"],
    &["arm,gic-400", "arm,cortex-a15-gic"],
    &["arm,armv8-timer", "arm,armv7-timer"],
    &["arm,psci-1.0"],
];

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

/// Calls every helper on every node; checks what holds whatever the tree says.
fn exercise(fdt: &Fdt<'_>) {
    let fake = NonNull::<u64>::dangling().cast::<u8>();
    let seen = Cell::new(None);
    let map = |pa: u64, size: u64| {
        seen.set(Some((pa, size)));
        Some(fake)
    };
    for node in fdt.all_nodes() {
        let _ = devicetree::is_enabled(&node);
        let _ = devicetree::is_compatible(&node, "arm,pl011");
        for index in 0..3 {
            let reg = devicetree::reg(&node, index);
            seen.set(None);
            let mapped = devicetree::map_reg(&node, index, &map);
            match (reg, mapped) {
                (Some((phys, size)), Some(m)) => {
                    assert!(size != 0);
                    assert_eq!((m.phys, m.size, m.base), (phys, size, fake));
                    assert_eq!(seen.get(), Some((phys, size)));
                }
                (Some((_, 0)), None) | (None, None) => assert_eq!(seen.get(), None),
                (reg, mapped) => panic!("reg {reg:?} but map_reg {mapped:?}"),
            }
        }
        let _ = devicetree::interrupt_parent(fdt, &node);
        for index in 0..5 {
            if let Some(spec) = devicetree::interrupt(fdt, &node, index) {
                assert!((1..=InterruptSpec::MAX_CELLS).contains(&spec.cells().len()));
                if let Some(intid) = spec.gic_intid() {
                    assert!((16..1020).contains(&intid));
                }
            }
        }
    }
    for with in COMPATIBLES {
        if let Some(n) = devicetree::find_compatible(fdt, with) {
            assert!(devicetree::is_enabled(&n));
            assert!(with.iter().any(|w| devicetree::is_compatible(&n, w)));
        }
        if let Some(n) = devicetree::stdout_node(fdt, with) {
            assert!(with.iter().any(|w| devicetree::is_compatible(&n, w)));
        }
    }
    if let Some(timer) = arm_generic_timer::probe(fdt) {
        assert!(timer.clock_frequency != Some(0));
    }
}

fn check_bytes(bytes: &[u8]) -> bool {
    match dtb::parse_for(bytes, LOOKUPS) {
        Ok(fdt) => {
            exercise(&fdt);
            true
        }
        Err(_) => false,
    }
}

// ---- the reference model ----

fn all(root: &Node) -> Vec<(&Node, Option<&Node>)> {
    let mut out = Vec::new();
    root.walk(None, &mut out);
    out
}

fn strings(v: &[u8]) -> Vec<&str> {
    // fdt's Compatible::all: NUL-separated UTF-8 pieces, stopping at the first bad one.
    let mut out = Vec::new();
    let mut rest = v;
    while !rest.is_empty() {
        let (piece, next) = match rest.iter().position(|&b| b == 0) {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, &[][..]),
        };
        match std::str::from_utf8(piece) {
            Ok(s) => out.push(s),
            Err(_) => break,
        }
        rest = next;
    }
    out
}

/// fdt's `compatible()`: the *last* `compatible` property.
fn compatible(node: &Node) -> Vec<&str> {
    node.props
        .iter()
        .rev()
        .find(|(n, _)| n == "compatible")
        .map(|(_, v)| strings(v))
        .unwrap_or_default()
}

fn enabled(node: &Node) -> bool {
    node.get("status")
        .and_then(|v| std::str::from_utf8(v).ok())
        .map(|s| s.trim_end_matches('\0'))
        .is_none_or(|s| s == "okay" || s == "ok")
}

fn word(v: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(v.get(..4)?.try_into().ok()?))
}

fn cells_of(parent: Option<&Node>) -> (usize, usize) {
    let (mut a, mut s) = (2, 1);
    for (n, v) in parent.map_or(&[][..], |p| &p.props[..]) {
        match n.as_str() {
            "#address-cells" => a = word(v).unwrap() as usize,
            "#size-cells" => s = word(v).unwrap() as usize,
            _ => {}
        }
    }
    (a, s)
}

/// `reg` entry `index` with its size, as `devicetree::reg` reads it.
fn model_reg(node: &Node, parent: Option<&Node>, index: usize) -> Option<(u64, u64)> {
    let (a, s) = cells_of(parent);
    if a > 2 || s > 2 || !(1..=2).contains(&a) || !(1..=2).contains(&s) {
        return None;
    }
    let reg = node.get("reg")?;
    let entry = reg.chunks_exact(4 * (a + s)).nth(index)?;
    let number = |b: &[u8]| b.iter().fold(0u64, |acc, &x| acc << 8 | u64::from(x));
    Some((number(&entry[..4 * a]), number(&entry[4 * a..])))
}

fn model_find_compatible<'t>(
    root: &'t Node,
    with: &[&str],
) -> Option<(&'t Node, Option<&'t Node>)> {
    all(root)
        .into_iter()
        .find(|(n, _)| enabled(n) && compatible(n).iter().any(|c| with.contains(c)))
}

/// The first node in document order with a `phandle` whose first word is `value`.
fn by_phandle(root: &Node, value: u32) -> Option<&Node> {
    all(root)
        .into_iter()
        .map(|(n, _)| n)
        .find(|n| n.get("phandle").and_then(word) == Some(value))
}

fn model_interrupt(root: &Node, node: &Node, index: usize) -> Option<Vec<u32>> {
    let parent_ref = node
        .get("interrupt-parent")
        .or_else(|| root.get("interrupt-parent"))?;
    let parent = by_phandle(root, u32::from_be_bytes(parent_ref.try_into().ok()?))?;
    let cells = word(parent.get("#interrupt-cells")?)? as usize;
    if !(1..=InterruptSpec::MAX_CELLS).contains(&cells) {
        return None;
    }
    let raw = node.get("interrupts")?;
    let entry = raw.chunks_exact(4 * cells).nth(index)?;
    Some(entry.chunks_exact(4).map(|c| word(c).unwrap()).collect())
}

/// Whether an fdt node is the model's: same name and same properties.
fn same(fdt_node: &FdtNode<'_, '_>, node: &Node) -> bool {
    let name = if node.name.is_empty() {
        "/"
    } else {
        &node.name
    };
    fdt_node.name == name
        && fdt_node
            .properties()
            .map(|p| (p.name.to_string(), p.value.to_vec()))
            .eq(node.props.iter().cloned())
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn arbitrary_bytes(body in prop::collection::vec(any::<u8>(), 0..600), sizes in (0u32..0x300, 0u32..0x300)) {
        let mut bytes = Vec::new();
        for v in [0xd00d_feed, 40 + body.len() as u32, 40, 40 + sizes.0, 40, 17, 16, 0, sizes.1, sizes.0] {
            bytes.extend_from_slice(&u32::to_be_bytes(v));
        }
        bytes.extend_from_slice(&body);
        check_bytes(&bytes);
    }

    #[test]
    fn damaged_qemu_trees(which in any::<bool>(), edits in prop::collection::vec(fdt_support::byte_edit(), 1..6)) {
        let mut bytes = if which { VIRT_GICV2 } else { VIRT_GICV3 }.to_vec();
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
        let mut bytes = fdt_support::write(&tokens, &[]);
        fdt_support::apply(&mut bytes, &byte_edits);
        check_bytes(&bytes);
    }

    /// Well-formed trees: the helpers find what the model finds.
    #[test]
    fn random_trees_match_the_model(root in fdt_support::tree(12)) {
        let bytes = fdt_support::write(&fdt_support::tokens(&root), &[]);
        let Ok(fdt) = dtb::parse_for(&bytes, LOOKUPS) else {
            return Ok(());
        };
        exercise(&fdt);
        for with in COMPATIBLES {
            let got = devicetree::find_compatible(&fdt, with);
            let want = model_find_compatible(&root, with);
            match (got, want) {
                (None, None) => {}
                (Some(g), Some((w, parent))) => {
                    prop_assert!(same(&g, w), "{:?}: found {}", with, g.name);
                    for index in 0..3 {
                        prop_assert_eq!(devicetree::reg(&g, index), model_reg(w, parent, index));
                    }
                    for index in 0..3 {
                        let got = devicetree::interrupt(&fdt, &g, index).map(|s| s.cells().to_vec());
                        prop_assert_eq!(got, model_interrupt(&root, w, index));
                    }
                }
                (g, w) => prop_assert!(false, "{:?}: found {:?}, model {:?}", with,
                    g.map(|n| n.name), w.map(|(n, _)| n.name.clone())),
            }
        }
        // stdout-path names a node directly under the root in these trees ("/pl011@9000000").
        let chosen = root.children.iter().find(|c| c.name.split('@').next() == Some("chosen"));
        let named = chosen
            .and_then(|c| c.get("stdout-path"))
            .and_then(|v| std::str::from_utf8(v).ok())
            .map(|s| s.trim_end_matches('\0'))
            .and_then(|p| p.split(':').next())
            .and_then(|p| p.strip_prefix('/'))
            .filter(|p| !p.is_empty() && !p.contains('/'))
            .and_then(|p| root.children.iter().find(|c| {
                if p.contains('@') { c.name == p } else { c.name.split('@').next() == Some(p) }
            }))
            .filter(|n| compatible(n).contains(&"arm,pl011"));
        let want = named.or_else(|| model_find_compatible(&root, &["arm,pl011"]).map(|(n, _)| n));
        let got = devicetree::stdout_node(&fdt, &["arm,pl011"]);
        match (got, want) {
            (None, None) => {}
            (Some(g), Some(w)) => prop_assert!(same(&g, w), "stdout {}", g.name),
            (g, w) => prop_assert!(false, "stdout {:?}, model {:?}", g.map(|n| n.name), w.map(|n| n.name.clone())),
        }
    }
}

#[test]
fn the_qemu_fixtures_pass_the_gate_and_probe() {
    for bytes in [VIRT_GICV2, VIRT_GICV3] {
        assert!(check_bytes(bytes));
        let fdt = dtb::parse_for(bytes, LOOKUPS).unwrap();
        let uart = devicetree::stdout_node(&fdt, &["arm,pl011"]).unwrap();
        assert_eq!(devicetree::reg(&uart, 0), Some((0x900_0000, 0x1000)));
        assert!(arm_generic_timer::probe(&fdt).is_some());
    }
}
