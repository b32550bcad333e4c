//! A flattened-device-tree writer and proptest strategies for the device-tree property tests
//! (`arch/aarch64/tests/dtb.rs`, and `drivers/tests/devicetree.rs` through `#[path]`): random
//! trees written as DTBs token by token, so that tests can also damage them the way firmware or
//! QEMU does (NOP tokens over removed nodes, tokens out of place, header fields at odd values).

#![allow(dead_code)] // Each including test crate uses its own subset.

use proptest::prelude::*;

pub const MAGIC: u32 = 0xd00d_feed;
pub const BEGIN_NODE: u32 = 1;
pub const END_NODE: u32 = 2;
pub const PROP: u32 = 3;
pub const NOP: u32 = 4;
pub const END: u32 = 9;

/// A node as the tests build it.
#[derive(Clone, Debug, Default)]
pub struct Node {
    pub name: String,
    pub props: Vec<(String, Vec<u8>)>,
    pub children: Vec<Node>,
}

impl Node {
    pub fn new(name: &str) -> Self {
        Node {
            name: name.into(),
            ..Node::default()
        }
    }

    pub fn prop(mut self, name: &str, value: &[u8]) -> Self {
        self.props.push((name.into(), value.to_vec()));
        self
    }

    pub fn child(mut self, child: Node) -> Self {
        self.children.push(child);
        self
    }

    /// The first property called `name`, as fdt's `property()` finds it.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.props
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| &v[..])
    }

    /// Pre-order, as fdt's `all_nodes` walks: (node, parent).
    pub fn walk<'a>(
        &'a self,
        parent: Option<&'a Node>,
        out: &mut Vec<(&'a Node, Option<&'a Node>)>,
    ) {
        out.push((self, parent));
        for c in &self.children {
            c.walk(Some(self), out);
        }
    }
}

/// One token of the structure block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Token {
    Begin(String),
    Prop(String, Vec<u8>),
    EndNode,
    Nop,
    End,
    /// A raw word (a token value no writer would produce).
    Raw(u32),
}

pub fn tokens(root: &Node) -> Vec<Token> {
    fn node(n: &Node, out: &mut Vec<Token>) {
        out.push(Token::Begin(n.name.clone()));
        for (name, value) in &n.props {
            out.push(Token::Prop(name.clone(), value.clone()));
        }
        for c in &n.children {
            node(c, out);
        }
        out.push(Token::EndNode);
    }
    let mut out = Vec::new();
    node(root, &mut out);
    out.push(Token::End);
    out
}

/// Header fields that tests may override after layout.
#[derive(Clone, Copy, Debug, Default)]
pub struct HeaderOverride {
    pub field: usize,
    pub value: u32,
}

/// Writes a version-17 DTB: header, memory reservation block, structure block, strings block.
pub fn write(tokens: &[Token], reservations: &[(u64, u64)]) -> Vec<u8> {
    let mut strings: Vec<u8> = Vec::new();
    let mut offsets: Vec<(String, u32)> = Vec::new();
    let mut name_offset = |name: &str, strings: &mut Vec<u8>| -> u32 {
        if let Some((_, off)) = offsets.iter().find(|(n, _)| n == name) {
            return *off;
        }
        let off = strings.len() as u32;
        strings.extend_from_slice(name.as_bytes());
        strings.push(0);
        offsets.push((name.into(), off));
        off
    };
    let mut structs: Vec<u8> = Vec::new();
    let pad = |v: &mut Vec<u8>| {
        while !v.len().is_multiple_of(4) {
            v.push(0);
        }
    };
    for t in tokens {
        match t {
            Token::Begin(name) => {
                structs.extend_from_slice(&BEGIN_NODE.to_be_bytes());
                structs.extend_from_slice(name.as_bytes());
                structs.push(0);
                pad(&mut structs);
            }
            Token::Prop(name, value) => {
                let off = name_offset(name, &mut strings);
                structs.extend_from_slice(&PROP.to_be_bytes());
                structs.extend_from_slice(&(value.len() as u32).to_be_bytes());
                structs.extend_from_slice(&off.to_be_bytes());
                structs.extend_from_slice(value);
                pad(&mut structs);
            }
            Token::EndNode => structs.extend_from_slice(&END_NODE.to_be_bytes()),
            Token::Nop => structs.extend_from_slice(&NOP.to_be_bytes()),
            Token::End => structs.extend_from_slice(&END.to_be_bytes()),
            Token::Raw(w) => structs.extend_from_slice(&w.to_be_bytes()),
        }
    }
    let mut rsv = Vec::new();
    for &(a, s) in reservations {
        rsv.extend_from_slice(&a.to_be_bytes());
        rsv.extend_from_slice(&s.to_be_bytes());
    }
    rsv.extend_from_slice(&[0; 16]);

    let off_rsv = 40u32;
    let off_struct = off_rsv + rsv.len() as u32;
    let off_strings = off_struct + structs.len() as u32;
    let total = off_strings + strings.len() as u32;
    let mut out = Vec::with_capacity(total as usize);
    for v in [
        MAGIC,
        total,
        off_struct,
        off_strings,
        off_rsv,
        17,
        16,
        0,
        strings.len() as u32,
        structs.len() as u32,
    ] {
        out.extend_from_slice(&v.to_be_bytes());
    }
    out.extend_from_slice(&rsv);
    out.extend_from_slice(&structs);
    out.extend_from_slice(&strings);
    out
}

pub fn be32(v: u32) -> Vec<u8> {
    v.to_be_bytes().to_vec()
}

pub fn be64(v: u64) -> Vec<u8> {
    v.to_be_bytes().to_vec()
}

pub fn cstr(s: &str) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    v.push(0);
    v
}

// ---- strategies ----

/// Node names the kernel looks for, and some it does not.
fn node_name() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => prop::sample::select(vec!["memory@40000000", "chosen", "intc@8000000"])
            .prop_map(String::from),
        3 => prop::sample::select(vec![
            "memory",
            "memory@40000000",
            "memory@0",
            "chosen",
            "reserved-memory",
            "aliases",
            "psci",
            "soc",
            "pl011@9000000",
            "intc@8000000",
            "timer",
            "rtc@9010000",
            "cpus",
            "buffer@48000000",
        ])
        .prop_map(String::from),
        1 => "[a-z]{1,6}(@[0-9a-f]{1,4})?".prop_map(String::from),
    ]
}

fn cells(max_words: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![
            Just(0u32),
            Just(1),
            Just(2),
            Just(3),
            Just(0x4000_0000),
            Just(0x2000_0000),
            any::<u32>()
        ],
        0..=max_words,
    )
    .prop_map(|words| words.iter().flat_map(|w| w.to_be_bytes()).collect())
}

/// Properties the kernel reads, with values of the right and of the wrong shape.
fn property() -> impl Strategy<Value = (String, Vec<u8>)> {
    let string_value = prop_oneof![
        prop::sample::select(vec![
            "memory",
            "okay",
            "ok",
            "disabled",
            "fail",
            "arm,pl011",
            "arm,pl031",
            "arm,gic-400",
            "arm,cortex-a15-gic",
            "arm,gic-v3",
            "arm,armv8-timer",
            "arm,psci-1.0",
            "arm,psci-0.2",
            "hvc",
            "smc",
            "/pl011@9000000",
            "serial0",
            "/pl011@9000000:115200n8",
            "serial0:115200",
            "/chosen",
            "/soc/pl011@9000000",
            "init=/bin/sh -- a b",
        ])
        .prop_map(cstr),
        prop::collection::vec(any::<u8>(), 0..12),
    ];
    prop_oneof![
        3 => (prop::sample::select(vec!["reg"]), cells(6)).prop_map(|(n, v)| (n.into(), v)),
        2 => (
            prop::sample::select(vec!["#address-cells", "#size-cells", "#interrupt-cells"]),
            prop_oneof![4 => (0u32..4).prop_map(be32), 1 => prop::collection::vec(any::<u8>(), 0..9)],
        )
            .prop_map(|(n, v)| (n.into(), v)),
        3 => (
            prop::sample::select(vec![
                "device_type", "status", "compatible", "bootargs", "stdout-path", "method",
                "model", "serial0",
            ]),
            string_value,
        )
            .prop_map(|(n, v)| (n.into(), v)),
        2 => (
            prop::sample::select(vec![
                "linux,initrd-start", "linux,initrd-end", "phandle", "interrupt-parent",
                "interrupts", "clock-frequency",
            ]),
            prop_oneof![
                (0u32..0x4800_0000).prop_map(be32),
                any::<u64>().prop_map(be64),
                cells(4),
            ],
        )
            .prop_map(|(n, v)| (n.into(), v)),
    ]
}

/// Values for the properties a node of a known name usually has.
#[derive(Clone, Debug)]
pub struct Typical {
    reg: Vec<u8>,
    bootargs: Vec<u8>,
    initrd: (u64, u64, bool),
    cells: (u32, u32),
    interrupts: Vec<u8>,
}

impl Typical {
    fn for_node(&self, name: &str) -> Vec<(String, Vec<u8>)> {
        let p = |n: &str, v: Vec<u8>| (n.to_string(), v);
        let number = |v: u64| {
            if self.initrd.2 {
                be64(v)
            } else {
                be32(v as u32)
            }
        };
        match name.split('@').next().unwrap_or("") {
            "memory" => vec![p("device_type", cstr("memory")), p("reg", self.reg.clone())],
            "chosen" => vec![
                p("bootargs", self.bootargs.clone()),
                p("linux,initrd-start", number(self.initrd.0)),
                p("linux,initrd-end", number(self.initrd.1)),
                p("stdout-path", cstr("/pl011@9000000")),
            ],
            "reserved-memory" | "soc" => vec![
                p("#address-cells", be32(self.cells.0)),
                p("#size-cells", be32(self.cells.1)),
            ],
            "buffer" => vec![p("reg", self.reg.clone())],
            "psci" => vec![
                p("compatible", cstr("arm,psci-1.0")),
                p("method", cstr("hvc")),
            ],
            "pl011" => vec![
                p("compatible", cstr("arm,pl011")),
                p("reg", self.reg.clone()),
            ],
            "aliases" => vec![p("serial0", cstr("/pl011@9000000"))],
            "intc" => vec![
                p("compatible", cstr("arm,gic-400")),
                p("phandle", be32(1)),
                p("#interrupt-cells", be32(self.cells.0 + 2)),
                p("reg", self.reg.clone()),
            ],
            "timer" => vec![
                p("compatible", cstr("arm,armv8-timer")),
                p("interrupt-parent", be32(1)),
                p("interrupts", self.interrupts.clone()),
            ],
            "rtc" => vec![
                p("compatible", cstr("arm,pl031")),
                p("interrupts", self.interrupts.clone()),
                p("reg", self.reg.clone()),
            ],
            _ => Vec::new(),
        }
    }
}

fn typical_props() -> impl Strategy<Value = Option<Typical>> {
    prop::option::weighted(
        0.7,
        (
            cells(6),
            prop::collection::vec(prop_oneof![Just(0u8), 0x20u8..0x7f], 0..24),
            (0u64..0x5000_0000, 0u64..0x5000_0000, any::<bool>()),
            (0u32..3, 0u32..3),
            cells(14),
        )
            .prop_map(|(reg, bootargs, initrd, cells, interrupts)| Typical {
                reg,
                bootargs,
                initrd,
                cells,
                interrupts,
            }),
    )
}

/// A random tree of up to `max_nodes` nodes under an unnamed root (node i hangs under a random
/// earlier node, so the depth stays small), with random properties.
pub fn tree(max_nodes: usize) -> impl Strategy<Value = Node> {
    (
        // The root names the interrupt controller half the time, as QEMU's trees do.
        prop_oneof![
            prop::collection::vec(property(), 0..4),
            prop::collection::vec(property(), 0..3).prop_map(|mut props| {
                props.insert(0, ("interrupt-parent".to_string(), be32(1)));
                props
            }),
        ],
        prop::collection::vec(
            (
                // Half the nodes hang under the root, where the kernel looks for most.
                prop::option::of(any::<prop::sample::Index>()),
                node_name(),
                prop::collection::vec(property(), 0..5),
                typical_props(),
            ),
            0..max_nodes,
        ),
    )
        .prop_map(|(root_props, specs)| {
            // Flat list first (parents by index), then assembled bottom-up.
            let mut nodes: Vec<(Node, Option<usize>)> = vec![(
                Node {
                    name: String::new(),
                    props: root_props,
                    children: Vec::new(),
                },
                None,
            )];
            for (parent, name, props, typical) in specs {
                let p = parent.map_or(0, |i| i.index(nodes.len()));
                // Mostly the properties such a node has, then random ones.
                let mut all = typical.map_or_else(Vec::new, |t| t.for_node(&name));
                all.extend(props);
                nodes.push((
                    Node {
                        name,
                        props: all,
                        children: Vec::new(),
                    },
                    Some(p),
                ));
            }
            while nodes.len() > 1 {
                let (node, parent) = nodes.pop().unwrap();
                let p = parent.unwrap();
                nodes[p].0.children.insert(0, node);
            }
            nodes.pop().unwrap().0
        })
}

/// A token-level change, applied by [`damage`].
#[derive(Clone, Debug)]
pub enum TokenEdit {
    /// NOPs in place of every token of the node that starts at this token (QEMU's
    /// `fdt_nop_node`), if a node starts there.
    NopNode(prop::sample::Index),
    Insert(prop::sample::Index, Token),
    Remove(prop::sample::Index),
    Swap(prop::sample::Index, prop::sample::Index),
}

pub fn token_edit() -> impl Strategy<Value = TokenEdit> {
    let token = prop_oneof![
        4 => Just(Token::Nop),
        1 => Just(Token::EndNode),
        1 => Just(Token::End),
        1 => node_name().prop_map(Token::Begin),
        1 => property().prop_map(|(n, v)| Token::Prop(n, v)),
        1 => any::<u32>().prop_map(Token::Raw),
    ];
    prop_oneof![
        3 => any::<prop::sample::Index>().prop_map(TokenEdit::NopNode),
        3 => (any::<prop::sample::Index>(), token).prop_map(|(i, t)| TokenEdit::Insert(i, t)),
        1 => any::<prop::sample::Index>().prop_map(TokenEdit::Remove),
        1 => (any::<prop::sample::Index>(), any::<prop::sample::Index>())
            .prop_map(|(a, b)| TokenEdit::Swap(a, b)),
    ]
}

pub fn damage(tokens: &mut Vec<Token>, edits: &[TokenEdit]) {
    for e in edits {
        if tokens.is_empty() {
            return;
        }
        match e {
            TokenEdit::NopNode(i) => {
                let start = i.index(tokens.len());
                if !matches!(tokens[start], Token::Begin(_)) {
                    continue;
                }
                let mut depth = 0usize;
                let mut end = start;
                for (j, t) in tokens.iter().enumerate().skip(start) {
                    match t {
                        Token::Begin(_) => depth += 1,
                        Token::EndNode => depth -= 1,
                        _ => {}
                    }
                    if depth == 0 {
                        end = j;
                        break;
                    }
                }
                if end < start {
                    continue;
                }
                // The node's bytes become NOP words, as many as the node took.
                let words: usize = tokens[start..=end].iter().map(token_words).sum();
                tokens.splice(start..=end, std::iter::repeat_n(Token::Nop, words));
            }
            TokenEdit::Insert(i, t) => {
                let at = i.index(tokens.len() + 1);
                tokens.insert(at, t.clone());
            }
            TokenEdit::Remove(i) => {
                let at = i.index(tokens.len());
                tokens.remove(at);
            }
            TokenEdit::Swap(a, b) => {
                let (a, b) = (a.index(tokens.len()), b.index(tokens.len()));
                tokens.swap(a, b);
            }
        }
    }
}

/// How many 32-bit words a token takes in the structure block.
fn token_words(t: &Token) -> usize {
    match t {
        Token::Begin(name) => 1 + (name.len() + 1).div_ceil(4),
        Token::Prop(_, v) => 3 + v.len().div_ceil(4),
        _ => 1,
    }
}

/// A byte-level change of a whole DTB.
#[derive(Clone, Debug)]
pub enum ByteEdit {
    /// Sets header word `field` (0..10) to an edge value.
    Header(usize, u32),
    Flip(prop::sample::Index, u8),
    Set(prop::sample::Index, u8),
    Truncate(prop::sample::Index),
}

pub fn byte_edit() -> impl Strategy<Value = ByteEdit> {
    prop_oneof![
        2 => (
            0usize..10,
            prop_oneof![
                Just(0u32),
                Just(1),
                Just(40),
                Just(0x7fff_ffff),
                Just(u32::MAX),
                Just(u32::MAX - 3),
                0u32..0x2000,
                any::<u32>()
            ],
        )
            .prop_map(|(f, v)| ByteEdit::Header(f, v)),
        3 => (any::<prop::sample::Index>(), 0u8..8).prop_map(|(i, b)| ByteEdit::Flip(i, b)),
        3 => (any::<prop::sample::Index>(), any::<u8>()).prop_map(|(i, v)| ByteEdit::Set(i, v)),
        1 => any::<prop::sample::Index>().prop_map(ByteEdit::Truncate),
    ]
}

pub fn apply(bytes: &mut Vec<u8>, edits: &[ByteEdit]) {
    for e in edits {
        if bytes.is_empty() {
            return;
        }
        match *e {
            ByteEdit::Header(field, value) => {
                // The magic stays (else nothing past the first check runs) unless the test
                // asked for field 0 explicitly.
                let at = field * 4;
                if at + 4 <= bytes.len() {
                    bytes[at..at + 4].copy_from_slice(&value.to_be_bytes());
                }
            }
            ByteEdit::Flip(i, bit) => {
                let at = i.index(bytes.len());
                bytes[at] ^= 1 << bit;
            }
            ByteEdit::Set(i, v) => {
                let at = i.index(bytes.len());
                bytes[at] = v;
            }
            ByteEdit::Truncate(i) => {
                let len = i.index(bytes.len() + 1);
                bytes.truncate(len);
            }
        }
    }
}
