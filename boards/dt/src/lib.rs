//! Device-tree lookups for the board crates, on a flattened-tree (DTSpec v17) walker of its own:
//! finding a node *with its ancestors*, so that a `reg` can be translated from bus addresses to
//! CPU physical addresses through each parent bus's `ranges` (the Raspberry Pi's peripherals sit
//! at bus address 0x7e00_0000, which the CPU sees at 0x3f00_0000 or 0xfe00_0000); resolving
//! `/chosen/stdout-path` with its `:options` suffix and aliases; reading interrupt specifiers of
//! any `#interrupt-cells` with their controller; skipping nodes whose `status` is not "okay".
//!
//! Why not the `fdt` crate (0.1.5) alone: it does not translate `ranges`, and it stops or panics
//! at NOP tokens between sibling nodes, which is how QEMU removes nodes from the trees it is given
//! (`raspi4b` NOPs out the PCIe, GENET, RNG and thermal nodes): its `all_nodes` ends early there
//! and `children` asserts. This walker treats NOPs as the spec says and returns `None`, never
//! panics, on a malformed tree.
//!
//! Pure parsing, no `unsafe`, host-tested: mapping the registers is the board's (arch's) job.
#![cfg_attr(not(test), no_std)]
#![deny(unsafe_code)]

/// Deepest node nesting followed (real trees nest 4 or 5 levels).
pub const MAX_DEPTH: usize = 16;

const MAGIC: u32 = 0xd00d_feed;
const BEGIN_NODE: u32 = 1;
const END_NODE: u32 = 2;
const PROP: u32 = 3;
const NOP: u32 = 4;
const END: u32 = 9;

/// A register window in CPU physical address space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    pub address: u64,
    pub size: u64,
}

/// Why a blob is not a device tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// Too short, wrong magic, an unsupported version, or blocks outside the blob.
    BadHeader,
}

/// A flattened device tree: its structure and strings blocks.
#[derive(Clone, Copy)]
pub struct DeviceTree<'a> {
    structs: &'a [u8],
    strings: &'a [u8],
}

/// One structure-block token.
enum Token<'a> {
    Begin(&'a str),
    End,
    Prop(&'a str, &'a [u8]),
    Nop,
    Finish,
}

/// A node: its name and where its properties start.
#[derive(Clone, Copy)]
pub struct Node<'a> {
    tree: DeviceTree<'a>,
    name: &'a str,
    body: usize,
}

/// A node and its ancestors (root first): what address translation and interrupt-parent lookup
/// need.
#[derive(Clone, Copy)]
pub struct Located<'a> {
    node: Node<'a>,
    ancestors: [Option<Node<'a>>; MAX_DEPTH],
    depth: usize,
}

/// One interrupt specifier and the controller it belongs to.
#[derive(Clone, Copy)]
pub struct Interrupt<'a> {
    pub controller: Located<'a>,
    cells: [u32; 4],
    len: usize,
}

impl Interrupt<'_> {
    /// The specifier's cells (as many as the controller's `#interrupt-cells`).
    pub fn cells(&self) -> &[u32] {
        &self.cells[..self.len]
    }

    /// The GIC interrupt ID of a specifier in the Arm GIC binding (`#interrupt-cells = 3`: type,
    /// number, flags): SPI n is INTID 32 + n, PPI n is INTID 16 + n.
    pub fn gic_intid(&self) -> Option<u32> {
        match *self.cells() {
            [0, n, _] if n < 988 => Some(32 + n),
            [1, n, _] if n < 16 => Some(16 + n),
            _ => None,
        }
    }
}

/// Big-endian u32 number `index` of `bytes`.
fn cell(bytes: &[u8], index: usize) -> Option<u32> {
    let at = index.checked_mul(4)?;
    let b = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// A number of `count` (0, 1 or 2) cells starting at cell `index`.
fn number(bytes: &[u8], index: usize, count: usize) -> Option<u64> {
    match count {
        0 => Some(0),
        1 => cell(bytes, index).map(u64::from),
        2 => Some((u64::from(cell(bytes, index)?) << 32) | u64::from(cell(bytes, index + 1)?)),
        _ => None,
    }
}

/// The NUL-terminated string at the start of `bytes`.
fn c_str(bytes: &[u8]) -> Option<&str> {
    let len = bytes.iter().position(|&b| b == 0)?;
    core::str::from_utf8(&bytes[..len]).ok()
}

impl<'a> DeviceTree<'a> {
    /// Checks the header and finds the blocks.
    pub fn new(blob: &'a [u8]) -> Result<Self, Error> {
        let word = |i| cell(blob, i).ok_or(Error::BadHeader);
        let (magic, total, off_struct, off_strings) = (word(0)?, word(1)?, word(2)?, word(3)?);
        let (version, size_strings, size_struct) = (word(5)?, word(8)?, word(9)?);
        if magic != MAGIC || version < 17 {
            return Err(Error::BadHeader);
        }
        let blob = blob.get(..total as usize).ok_or(Error::BadHeader)?;
        let block = |off: u32, size: u32| {
            let (off, size) = (off as usize, size as usize);
            blob.get(off..off.checked_add(size).ok_or(Error::BadHeader)?)
                .ok_or(Error::BadHeader)
        };
        Ok(Self {
            structs: block(off_struct, size_struct)?,
            strings: block(off_strings, size_strings)?,
        })
    }

    /// The token at `off` and the offset after it; `None` past the end or on garbage.
    fn token(&self, off: usize) -> Option<(Token<'a>, usize)> {
        let next = |len: usize| off.checked_add(len)?.checked_next_multiple_of(4);
        match cell(self.structs, off / 4)? {
            BEGIN_NODE => {
                let name = c_str(self.structs.get(off + 4..)?)?;
                Some((Token::Begin(name), next(4 + name.len() + 1)?))
            }
            END_NODE => Some((Token::End, off + 4)),
            PROP => {
                let len = cell(self.structs, off / 4 + 1)? as usize;
                let name_off = cell(self.structs, off / 4 + 2)? as usize;
                let value = self.structs.get(off + 12..(off + 12).checked_add(len)?)?;
                let name = c_str(self.strings.get(name_off..)?)?;
                Some((Token::Prop(name, value), next(12 + len)?))
            }
            NOP => Some((Token::Nop, off + 4)),
            END => Some((Token::Finish, off + 4)),
            _ => None,
        }
    }

    /// The offset of the root node's BEGIN_NODE token (after any leading NOPs).
    fn root_offset(&self) -> Option<usize> {
        let mut off = 0;
        loop {
            match self.token(off)? {
                (Token::Nop, next) => off = next,
                (Token::Begin(_), _) => return Some(off),
                _ => return None,
            }
        }
    }

    /// The root node.
    pub fn root(&self) -> Option<Node<'a>> {
        match self.token(self.root_offset()?)? {
            (Token::Begin(name), body) => Some(Node {
                tree: *self,
                name,
                body,
            }),
            _ => None,
        }
    }

    /// Depth-first search for the first node `want` accepts (disabled subtrees skipped when
    /// `enabled_only`), with its ancestors.
    fn search(
        &self,
        enabled_only: bool,
        want: &mut dyn FnMut(&Node<'a>) -> bool,
    ) -> Option<Located<'a>> {
        let mut off = self.root_offset()?;
        let mut stack: [Option<Node<'a>>; MAX_DEPTH] = [None; MAX_DEPTH];
        let mut depth = 0usize;
        // While inside a disabled subtree: the depth at which it started.
        let mut skipping: Option<usize> = None;
        loop {
            let (token, next) = self.token(off)?;
            off = next;
            match token {
                Token::Begin(name) => {
                    let node = Node {
                        tree: *self,
                        name,
                        body: next,
                    };
                    if skipping.is_none() {
                        if enabled_only && !node.is_enabled() {
                            skipping = Some(depth);
                        } else if want(&node) {
                            return Some(Located {
                                node,
                                ancestors: stack,
                                depth,
                            });
                        }
                    }
                    if depth >= MAX_DEPTH {
                        return None;
                    }
                    stack[depth] = Some(node);
                    depth += 1;
                }
                Token::End => {
                    depth = depth.checked_sub(1)?;
                    stack[depth] = None;
                    if skipping == Some(depth) {
                        skipping = None;
                    }
                    if depth == 0 {
                        return None;
                    }
                }
                Token::Prop(..) | Token::Nop => {}
                Token::Finish => return None,
            }
        }
    }

    /// The first enabled node compatible with any of `with`.
    pub fn find_compatible(&self, with: &[&str]) -> Option<Located<'a>> {
        self.search(true, &mut |n| n.is_compatible(with))
    }

    /// The node with `phandle` (enabled or not: a phandle reference is explicit).
    pub fn find_phandle(&self, phandle: u32) -> Option<Located<'a>> {
        self.search(false, &mut |n| n.phandle() == Some(phandle))
    }

    /// The node at `path` (`/soc/serial@7e201000`), or named by an alias (`serial0`). A component
    /// without a unit address matches the first child of that name whatever its address, as in
    /// Linux's `of_find_node_by_path`.
    pub fn find_path(&self, path: &str) -> Option<Located<'a>> {
        let root = self.root()?;
        let path = if path.starts_with('/') {
            path
        } else {
            let aliases = root.children().find(|c| c.name == "aliases")?;
            aliases.property_str(path)?
        };
        if !path.starts_with('/') {
            return None;
        }
        let mut at = Located {
            node: root,
            ancestors: [None; MAX_DEPTH],
            depth: 0,
        };
        for component in path.split('/').filter(|c| !c.is_empty()) {
            if at.depth >= MAX_DEPTH {
                return None;
            }
            let child = at.node.children().find(|c| {
                if component.contains('@') {
                    c.name == component
                } else {
                    c.name.split('@').next() == Some(component)
                }
            })?;
            at.ancestors[at.depth] = Some(at.node);
            at.depth += 1;
            at.node = child;
        }
        Some(at)
    }

    /// The console the firmware names in `/chosen/stdout-path` (the `:115200n8` options dropped,
    /// aliases resolved), if it exists and is enabled.
    pub fn stdout(&self) -> Option<Located<'a>> {
        let chosen = self.root()?.children().find(|c| c.name == "chosen")?;
        let path = chosen
            .property_str("stdout-path")
            .or_else(|| chosen.property_str("linux,stdout-path"))?;
        self.find_path(path.split(':').next()?)
            .filter(|l| l.node.is_enabled())
    }

    /// The root's `model`, for the boot log.
    pub fn model(&self) -> &'a str {
        self.root()
            .and_then(|r| r.property_str("model"))
            .unwrap_or("unknown machine")
    }
}

impl<'a> Node<'a> {
    pub fn name(&self) -> &'a str {
        self.name
    }

    /// The node's properties, in order.
    pub fn properties(&self) -> impl Iterator<Item = (&'a str, &'a [u8])> + use<'a> {
        let tree = self.tree;
        let mut off = self.body;
        core::iter::from_fn(move || {
            loop {
                let (token, next) = tree.token(off)?;
                off = next;
                match token {
                    Token::Prop(name, value) => return Some((name, value)),
                    Token::Nop => {}
                    _ => return None,
                }
            }
        })
    }

    pub fn property(&self, name: &str) -> Option<&'a [u8]> {
        self.properties().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// A string property (up to its first NUL).
    pub fn property_str(&self, name: &str) -> Option<&'a str> {
        let value = self.property(name)?;
        let len = value.iter().position(|&b| b == 0).unwrap_or(value.len());
        core::str::from_utf8(&value[..len]).ok()
    }

    pub fn property_u32(&self, name: &str) -> Option<u32> {
        cell(self.property(name)?, 0)
    }

    /// The node's children, in order.
    pub fn children(&self) -> impl Iterator<Item = Node<'a>> + use<'a> {
        let tree = self.tree;
        let mut off = self.body;
        // Nesting below this node of the token at `off`.
        let mut level = 0usize;
        core::iter::from_fn(move || {
            loop {
                let (token, next) = tree.token(off)?;
                off = next;
                match token {
                    Token::Begin(name) => {
                        level += 1;
                        if level == 1 {
                            return Some(Node {
                                tree,
                                name,
                                body: next,
                            });
                        }
                    }
                    Token::End => level = level.checked_sub(1)?,
                    Token::Prop(..) | Token::Nop => {}
                    Token::Finish => return None,
                }
            }
        })
    }

    /// False for a node whose `status` says it is absent or unusable ("disabled", "fail", ...).
    pub fn is_enabled(&self) -> bool {
        self.property_str("status")
            .is_none_or(|s| s == "okay" || s == "ok")
    }

    /// True if any of the node's `compatible` strings is in `with`.
    pub fn is_compatible(&self, with: &[&str]) -> bool {
        self.property("compatible").is_some_and(|list| {
            list.split(|&b| b == 0)
                .any(|s| with.iter().any(|w| w.as_bytes() == s))
        })
    }

    /// The node's `phandle` (or the older `linux,phandle`).
    pub fn phandle(&self) -> Option<u32> {
        self.property_u32("phandle")
            .or_else(|| self.property_u32("linux,phandle"))
    }

    /// `#address-cells` of a bus node (the spec's default is 2).
    fn address_cells(&self) -> usize {
        self.property_u32("#address-cells")
            .map_or(2, |c| c as usize)
    }

    /// `#size-cells` of a bus node (the spec's default is 1).
    fn size_cells(&self) -> usize {
        self.property_u32("#size-cells").map_or(1, |c| c as usize)
    }
}

impl<'a> Located<'a> {
    pub fn node(&self) -> Node<'a> {
        self.node
    }

    pub fn name(&self) -> &'a str {
        self.node.name
    }

    pub fn is_compatible(&self, with: &[&str]) -> bool {
        self.node.is_compatible(with)
    }

    pub fn phandle(&self) -> Option<u32> {
        self.node.phandle()
    }

    fn parent(&self) -> Option<Node<'a>> {
        self.ancestors[..self.depth].last().copied().flatten()
    }

    /// Entry `index` of `reg`, translated to a CPU physical address; `None` if there is no such
    /// entry or some bus on the way has no (matching) `ranges`.
    pub fn reg(&self, index: usize) -> Option<Region> {
        let parent = self.parent()?;
        let (ac, sc) = (parent.address_cells(), parent.size_cells());
        let reg = self.node.property("reg")?;
        let at = index.checked_mul(ac + sc)?;
        let address = number(reg, at, ac)?;
        let size = number(reg, at + ac, sc)?;
        Some(Region {
            address: self.translate(address)?,
            size,
        })
    }

    /// The same as [`Located::reg`] for the entry named `name` in `reg-names`.
    pub fn reg_named(&self, name: &str) -> Option<Region> {
        let names = self.node.property("reg-names")?;
        let index = names
            .split(|&b| b == 0)
            .position(|n| n == name.as_bytes())?;
        self.reg(index)
    }

    /// Translates an address of this node's parent bus up through every ancestor's `ranges`
    /// (an empty `ranges` is the identity; a missing one means the bus is not memory-mapped).
    pub fn translate(&self, mut address: u64) -> Option<u64> {
        for k in (1..self.depth).rev() {
            let bus = self.ancestors[k]?;
            let above = self.ancestors[k - 1]?;
            let ranges = bus.property("ranges")?;
            if ranges.is_empty() {
                continue;
            }
            let (child_ac, size_c) = (bus.address_cells(), bus.size_cells());
            let parent_ac = above.address_cells();
            let stride = child_ac + parent_ac + size_c;
            let entries = ranges.len() / 4 / stride.max(1);
            address = (0..entries).find_map(|i| {
                let child = number(ranges, i * stride, child_ac)?;
                let parent = number(ranges, i * stride + child_ac, parent_ac)?;
                let size = number(ranges, i * stride + child_ac + parent_ac, size_c)?;
                let offset = address.checked_sub(child)?;
                (offset < size)
                    .then(|| parent.checked_add(offset))
                    .flatten()
            })?;
        }
        Some(address)
    }

    /// The `interrupt-parent` phandle that applies to this node (its own or the nearest
    /// ancestor's).
    fn interrupt_parent(&self) -> Option<u32> {
        core::iter::once(Some(self.node))
            .chain(self.ancestors[..self.depth].iter().rev().copied())
            .flatten()
            .find_map(|n| n.property_u32("interrupt-parent"))
    }

    /// Interrupt specifier `index` of the node's `interrupts`, with its controller.
    pub fn interrupt(&self, index: usize) -> Option<Interrupt<'a>> {
        let controller = self.node.tree.find_phandle(self.interrupt_parent()?)?;
        let len = controller.node.property_u32("#interrupt-cells")? as usize;
        if len == 0 || len > 4 {
            return None;
        }
        let value = self.node.property("interrupts")?;
        let mut cells = [0u32; 4];
        for (i, c) in cells[..len].iter_mut().enumerate() {
            *c = cell(value, index.checked_mul(len)? + i)?;
        }
        Some(Interrupt {
            controller,
            cells,
            len,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A structure-block item for the tiny flattened-tree writer below.
    enum T<'s> {
        Begin(&'s str),
        Prop(&'s str, Vec<u8>),
        End,
        /// A NOP token, as QEMU leaves where it removed a node.
        Nop,
    }

    fn cells(v: &[u32]) -> Vec<u8> {
        v.iter().flat_map(|c| c.to_be_bytes()).collect()
    }

    fn string(s: &str) -> Vec<u8> {
        let mut v = s.as_bytes().to_vec();
        v.push(0);
        v
    }

    fn pad(v: &mut Vec<u8>) {
        while !v.len().is_multiple_of(4) {
            v.push(0);
        }
    }

    /// Writes a version-17 flattened device tree (DTSpec 5): header, empty reservation map,
    /// structure block, strings block.
    fn build(items: &[T<'_>]) -> Vec<u8> {
        let mut structs = Vec::new();
        let mut strings: Vec<u8> = Vec::new();
        for item in items {
            match item {
                T::Begin(name) => {
                    structs.extend(BEGIN_NODE.to_be_bytes());
                    structs.extend(string(name));
                    pad(&mut structs);
                }
                T::Prop(name, value) => {
                    let offset = strings.len() as u32;
                    strings.extend(string(name));
                    structs.extend(PROP.to_be_bytes());
                    structs.extend((value.len() as u32).to_be_bytes());
                    structs.extend(offset.to_be_bytes());
                    structs.extend(value);
                    pad(&mut structs);
                }
                T::End => structs.extend(END_NODE.to_be_bytes()),
                T::Nop => structs.extend(NOP.to_be_bytes()),
            }
        }
        structs.extend(END.to_be_bytes());
        let rsvmap = 40u32;
        let off_struct = rsvmap + 16;
        let off_strings = off_struct + structs.len() as u32;
        let total = off_strings + strings.len() as u32;
        let mut out = Vec::new();
        for v in [
            MAGIC,
            total,
            off_struct,
            off_strings,
            rsvmap,
            17,
            16,
            0,
            strings.len() as u32,
            structs.len() as u32,
        ] {
            out.extend(u32::to_be_bytes(v));
        }
        out.extend([0u8; 16]);
        out.extend(structs);
        out.extend(strings);
        out
    }

    /// Shaped like QEMU's Raspberry Pi 4 tree: two-cell root, a one-cell `/soc` bus with two
    /// `ranges` windows, a GIC as interrupt parent, the console named through an alias, NOPs
    /// where QEMU removed nodes (between siblings and as the last child), the timer last.
    fn pi4_like() -> Vec<u8> {
        use T::*;
        build(&[
            Nop,
            Begin(""),
            Prop("#address-cells", cells(&[2])),
            Prop("#size-cells", cells(&[1])),
            Prop("model", string("Test Pi")),
            Prop("interrupt-parent", cells(&[1])),
            Begin("aliases"),
            Prop("serial0", string("/soc/serial@7e201000")),
            End,
            Begin("chosen"),
            Prop("stdout-path", string("serial0:115200n8")),
            End,
            Begin("soc"),
            Prop("#address-cells", cells(&[1])),
            Prop("#size-cells", cells(&[1])),
            Prop(
                "ranges",
                cells(&[
                    0x7e00_0000,
                    0,
                    0xfe00_0000,
                    0x180_0000,
                    0x4000_0000,
                    0,
                    0xff80_0000,
                    0x80_0000,
                ]),
            ),
            Begin("serial@7e100000"),
            Prop("compatible", string("arm,pl011")),
            Prop("status", string("disabled")),
            Prop("reg", cells(&[0x7e10_0000, 0x200])),
            Begin("inner"),
            Prop("compatible", string("test,inside-disabled")),
            End,
            End,
            Nop,
            Nop,
            Begin("serial@7e201000"),
            Prop(
                "compatible",
                [string("arm,pl011"), string("arm,primecell")].concat(),
            ),
            Nop,
            Prop("reg", cells(&[0x7e20_1000, 0x200])),
            Prop("interrupts", cells(&[0, 0x79, 4])),
            End,
            Begin("interrupt-controller@40041000"),
            Prop("compatible", string("arm,gic-400")),
            Prop("interrupt-controller", Vec::new()),
            Prop("#interrupt-cells", cells(&[3])),
            Prop("reg", cells(&[0x4004_1000, 0x1000, 0x4004_2000, 0x2000])),
            Prop("reg-names", [string("dist"), string("cpu")].concat()),
            Prop("phandle", cells(&[1])),
            End,
            Begin("outside@7fa00000"),
            Prop("compatible", string("test,outside")),
            Prop("reg", cells(&[0x7fa0_0000, 0x10])),
            End,
            Nop,
            End,
            Begin("unmapped"),
            Prop("#address-cells", cells(&[1])),
            Prop("#size-cells", cells(&[0])),
            Begin("child@3"),
            Prop("compatible", string("test,unmapped")),
            Prop("reg", cells(&[3])),
            End,
            End,
            Begin("flat"),
            Prop("#address-cells", cells(&[1])),
            Prop("#size-cells", cells(&[1])),
            Prop("ranges", Vec::new()),
            Begin("dev@1000"),
            Prop("compatible", string("test,flat")),
            Prop("reg", cells(&[0x1000, 0x100])),
            End,
            End,
            Begin("timer"),
            Prop("compatible", string("arm,armv8-timer")),
            Prop(
                "interrupts",
                cells(&[1, 13, 0xf08, 1, 14, 0xf08, 1, 11, 0xf08]),
            ),
            End,
            End,
        ])
    }

    fn tree(blob: &[u8]) -> DeviceTree<'_> {
        DeviceTree::new(blob).unwrap()
    }

    #[test]
    fn nodes_after_nops_are_found() {
        let blob = pi4_like();
        let dt = tree(&blob);
        assert_eq!(dt.model(), "Test Pi");
        let timer = dt.find_compatible(&["arm,armv8-timer"]).unwrap();
        assert_eq!(timer.name(), "timer");
        let names: Vec<&str> = dt.root().unwrap().children().map(|c| c.name()).collect();
        assert_eq!(
            names,
            ["aliases", "chosen", "soc", "unmapped", "flat", "timer"]
        );
    }

    #[test]
    fn registers_are_translated_through_ranges() {
        let blob = pi4_like();
        let dt = tree(&blob);
        let uart = dt.find_compatible(&["arm,pl011"]).unwrap();
        assert_eq!(
            uart.name(),
            "serial@7e201000",
            "the disabled one is skipped"
        );
        assert_eq!(
            uart.reg(0),
            Some(Region {
                address: 0xfe20_1000,
                size: 0x200
            })
        );
        assert_eq!(uart.reg(1), None);
        let gic = dt.find_compatible(&["arm,gic-400"]).unwrap();
        assert_eq!(gic.reg(1).unwrap().address, 0xff84_2000, "second window");
        assert_eq!(gic.reg_named("cpu"), gic.reg(1));
        assert_eq!(gic.reg_named("dist").unwrap().size, 0x1000);
        assert_eq!(gic.reg_named("hyp"), None);
    }

    #[test]
    fn disabled_subtrees_are_skipped() {
        let blob = pi4_like();
        let dt = tree(&blob);
        assert!(dt.find_compatible(&["test,inside-disabled"]).is_none());
        let disabled = dt.find_path("/soc/serial@7e100000").unwrap();
        assert!(
            !disabled.node().is_enabled(),
            "explicit paths still reach it"
        );
    }

    #[test]
    fn addresses_outside_every_window_or_bus_do_not_translate() {
        let blob = pi4_like();
        let dt = tree(&blob);
        let outside = dt.find_compatible(&["test,outside"]).unwrap();
        assert_eq!(outside.reg(0), None);
        let unmapped = dt.find_compatible(&["test,unmapped"]).unwrap();
        assert_eq!(unmapped.reg(0), None, "a bus without ranges");
        let flat = dt.find_compatible(&["test,flat"]).unwrap();
        assert_eq!(
            flat.reg(0),
            Some(Region {
                address: 0x1000,
                size: 0x100
            }),
            "empty ranges is the identity"
        );
    }

    #[test]
    fn stdout_path_drops_options_and_resolves_aliases() {
        let blob = pi4_like();
        let dt = tree(&blob);
        let console = dt.stdout().unwrap();
        assert_eq!(console.name(), "serial@7e201000");
        assert_eq!(console.reg(0).unwrap().address, 0xfe20_1000);
        let by_path = dt.find_path("/soc/serial@7e201000").unwrap();
        assert_eq!(by_path.reg(0), console.reg(0));
        assert_eq!(
            dt.find_path("/soc/interrupt-controller").unwrap().phandle(),
            Some(1)
        );
        assert!(dt.find_path("/soc/nothing").is_none());
        assert!(dt.find_path("serial9").is_none());
    }

    #[test]
    fn interrupts_come_with_their_controller() {
        let blob = pi4_like();
        let dt = tree(&blob);
        let uart = dt.find_compatible(&["arm,pl011"]).unwrap();
        let irq = uart.interrupt(0).unwrap();
        assert_eq!(irq.cells(), [0, 0x79, 4]);
        assert!(irq.controller.is_compatible(&["arm,gic-400"]));
        assert!(uart.interrupt(1).is_none());
        let timer = dt.find_compatible(&["arm,armv8-timer"]).unwrap();
        assert_eq!(timer.interrupt(2).unwrap().cells(), [1, 11, 0xf08]);
        assert_eq!(timer.interrupt(2).unwrap().gic_intid(), Some(27));
        assert_eq!(irq.gic_intid(), Some(32 + 0x79));
        assert!(timer.interrupt(3).is_none());
        let outside = dt.find_compatible(&["test,outside"]).unwrap();
        assert!(outside.interrupt(0).is_none(), "no interrupts property");
        assert!(dt.find_phandle(7).is_none());
    }

    #[test]
    fn malformed_trees_are_errors_or_absent_nodes_never_panics() {
        let blob = pi4_like();
        assert_eq!(DeviceTree::new(&blob[..30]).err(), Some(Error::BadHeader));
        let mut bad_magic = blob.clone();
        bad_magic[0] = 0;
        assert_eq!(DeviceTree::new(&bad_magic).err(), Some(Error::BadHeader));
        let mut short_total = blob.clone();
        short_total[4..8].copy_from_slice(&100u32.to_be_bytes());
        assert_eq!(DeviceTree::new(&short_total).err(), Some(Error::BadHeader));
        // Every truncation of the structure block and every corrupted word: lookups end
        // quietly.
        let struct_end = u32::from_be_bytes(blob[12..16].try_into().unwrap()) as usize;
        for cut in (56..struct_end).step_by(4) {
            let mut b = blob.clone();
            b[36..40].copy_from_slice(&((cut - 56) as u32).to_be_bytes());
            if let Ok(dt) = DeviceTree::new(&b) {
                let _ = dt.find_compatible(&["arm,armv8-timer"]);
                let _ = dt.stdout().map(|s| s.reg(0));
            }
        }
        for at in (56..struct_end).step_by(4) {
            let mut b = blob.clone();
            b[at..at + 4].copy_from_slice(&0xffff_fff0u32.to_be_bytes());
            let dt = tree(&b);
            let _ = dt
                .find_compatible(&["arm,armv8-timer"])
                .map(|t| t.interrupt(2));
            let _ = dt.find_path("serial0").map(|s| s.reg(0));
        }
    }
}
