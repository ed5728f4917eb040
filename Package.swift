// swift-tools-version: 6.1
import PackageDescription

// The layers call each other per field of every event (ByteBuffer, PacketText, the formatters):
// without cross-module optimization little is inlined across targets, and decoding and
// formatting cost 18% (text) to 36% (JSON) more instructions per event (docs/design.md, "Targets").
let crossModule: [SwiftSetting] = [.unsafeFlags(["-cross-module-optimization"], .when(configuration: .release))]

let package = Package(
    name: "skbtracer",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "skbtracer", targets: ["skbtracer"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        // The kernel/user contract: event and config structs shared with bpf/*.bpf.c.
        .target(name: "CSkbTracerABI"),
        // libbpf glue Swift cannot express directly (option structs, errno capture, setns).
        .target(
            name: "CBPFShim",
            linkerSettings: [.linkedLibrary("bpf"), .linkedLibrary("elf"), .linkedLibrary("z")]
        ),
        // libmnl glue for the kernel's netfilter hook listing (nfnetlink_hook), and libnftnl's
        // nf_tables chain messages where it is missing: netlink messages are C-shaped.
        // nftrace: libnftnl's trace messages, and libnftables (nft's own library) for the
        // tables that set nftrace and the text of rules.
        .target(
            name: "CNetfilter",
            linkerSettings: [.linkedLibrary("mnl"), .linkedLibrary("nftnl"), .linkedLibrary("nftables")]
        ),
        // libpcap: tcpdump expressions compiled to classic BPF, which the kernel side runs.
        // Behind C functions: its struct bpf_insn and the kernel's cannot meet in one Swift module.
        .target(name: "CPcap", dependencies: ["CSkbTracerABI"], linkerSettings: [.linkedLibrary("pcap")]),
        // Compiles bpf/*.bpf.c with the toolchain's clang and embeds the objects.
        .executableTarget(name: "BPFEmbed"),
        .plugin(name: "BPFObjectPlugin", capability: .buildTool(), dependencies: ["BPFEmbed"]),
        // The objects and their skeletons: typed program and map names.
        .target(name: "SkbTracerBPFObject", dependencies: ["BPFKit"], plugins: ["BPFObjectPlugin"]),
        // A small typed libbpf layer; it knows nothing about packets.
        .target(name: "BPFKit", dependencies: ["CBPFShim"]),
        // Layers, each depending only on the ones above it here (docs/design.md, "Targets").
        // System calls, errors, subprocesses, signals, setns: no packets.
        .target(name: "SkbTracerSystem", dependencies: ["BPFKit", "CBPFShim"], swiftSettings: crossModule),
        // The event model: events decoded from records, packets, tunnels, drop reasons,
        // filters, the probe catalogue, socket owners, the byte buffer encoders write into.
        .target(
            name: "SkbTracerModel",
            dependencies: ["SkbTracerSystem", "CSkbTracerABI", "CBPFShim", "BPFKit", "SkbTracerBPFObject", "CPcap"],
            swiftSettings: crossModule
        ),
        // Netfilter through netlink (CNetfilter): `--list-hooks`, and `--netfilter`'s
        // nftrace tables, trace listener and rule texts. BPF program names through BPFKit.
        .target(
            name: "SkbTracerNetfilter",
            dependencies: ["SkbTracerModel", "SkbTracerSystem", "CNetfilter", "BPFKit"]
        ),
        // Journeys: tracking an skb through copies and tunnels, diagnosis, names.
        .target(
            name: "SkbTracerAnalysis",
            dependencies: ["SkbTracerModel", "SkbTracerSystem", "CSkbTracerABI"],
            swiftSettings: crossModule
        ),
        // Every renderer: text, JSON, journeys.
        .target(
            name: "SkbTracerOutput",
            dependencies: ["SkbTracerAnalysis", "SkbTracerModel", "SkbTracerSystem", "CSkbTracerABI"],
            swiftSettings: crossModule
        ),
        // Kernel loading, the pipeline, recording and replay.
        .target(
            name: "SkbTracerSession",
            dependencies: [
                "SkbTracerOutput", "SkbTracerAnalysis", "SkbTracerModel", "SkbTracerSystem",
                "SkbTracerNetfilter", "CSkbTracerABI", "BPFKit", "SkbTracerBPFObject",
            ],
            swiftSettings: crossModule
        ),
        // skbtracer ping: probe packets sent and traced.
        .target(
            name: "SkbTracerPing",
            dependencies: [
                "SkbTracerSession", "SkbTracerOutput", "SkbTracerAnalysis", "SkbTracerModel", "SkbTracerSystem",
                "CBPFShim", "BPFKit",
            ]
        ),
        // Lab namespaces and the demo.
        .target(
            name: "SkbTracerLab",
            dependencies: ["SkbTracerSession", "SkbTracerModel", "SkbTracerSystem", "BPFKit"]
        ),
        // The version and the git commit of the build (`skbtracer --version`), read by the
        // plugin before every build: alone in its target, so a new commit recompiles one file.
        .plugin(name: "BuildInfoPlugin", capability: .buildTool()),
        .target(name: "SkbTracerVersion", plugins: ["BuildInfoPlugin"]),
        // The command-line commands.
        .target(
            name: "SkbTracerCLI",
            dependencies: [
                "SkbTracerVersion", "SkbTracerLab", "SkbTracerPing", "SkbTracerSession", "SkbTracerOutput", "SkbTracerAnalysis",
                "SkbTracerNetfilter", "SkbTracerModel", "SkbTracerSystem",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(name: "skbtracer", dependencies: ["SkbTracerCLI"]),
        // Makes nftrace tables and waits to be killed: KernelTests' proof that they go with it.
        .executableTarget(
            name: "NftraceHolder",
            dependencies: ["SkbTracerNetfilter", "SkbTracerModel", "SkbTracerSystem"],
            path: "Tests/NftraceHolder"
        ),
        .testTarget(
            name: "SkbTracerCoreTests",
            dependencies: [
                "SkbTracerCLI", "SkbTracerPing", "SkbTracerSession", "SkbTracerOutput", "SkbTracerAnalysis",
                "SkbTracerModel", "SkbTracerSystem", "CSkbTracerABI", "BPFKit", "SkbTracerBPFObject",
                "SkbTracerNetfilter", "CNetfilter",
            ],
            // Old recordings and what they replayed to, read by OldRecordingTests.
            exclude: ["Recordings"]
        ),
        .testTarget(
            name: "KernelTests",
            dependencies: [
                "SkbTracerLab", "SkbTracerPing", "SkbTracerSession", "SkbTracerModel", "SkbTracerSystem",
                "BPFKit", "SkbTracerBPFObject", "SkbTracerNetfilter",
            ]
        ),
    ]
)
