// swift-tools-version: 6.1
import PackageDescription

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
        // Compiles bpf/*.bpf.c with the toolchain's clang and embeds the objects.
        .executableTarget(name: "BPFEmbed"),
        .plugin(name: "BPFObjectPlugin", capability: .buildTool(), dependencies: ["BPFEmbed"]),
        // The objects and their skeletons: typed program and map names.
        .target(name: "SkbTracerBPFObject", dependencies: ["BPFKit"], plugins: ["BPFObjectPlugin"]),
        // A small typed libbpf layer; it knows nothing about packets.
        .target(name: "BPFKit", dependencies: ["CBPFShim"]),
        // Probe catalogue, filters, decoding, output, tracer session, lab.
        .target(
            name: "SkbTracerCore",
            dependencies: ["BPFKit", "CSkbTracerABI", "CBPFShim", "SkbTracerBPFObject"]
        ),
        // The command-line commands.
        .target(
            name: "SkbTracerCLI",
            dependencies: [
                "SkbTracerCore",
                "CSkbTracerABI",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(name: "skbtracer", dependencies: ["SkbTracerCLI"]),
        .testTarget(
            name: "SkbTracerCoreTests",
            dependencies: ["SkbTracerCore", "SkbTracerCLI", "CSkbTracerABI", "BPFKit", "SkbTracerBPFObject"],
            // Old recordings and what they replayed to, read by OldRecordingTests.
            exclude: ["Recordings"]
        ),
        .testTarget(name: "KernelTests", dependencies: ["SkbTracerCore", "SkbTracerBPFObject"]),
    ]
)
