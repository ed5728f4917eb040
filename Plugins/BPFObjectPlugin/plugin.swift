import Foundation
import PackagePlugin

/// Builds every `bpf/*.bpf.c` with the toolchain's clang and embeds the objects
/// as base64 in one generated Swift file (an array literal of bytes compiles far
/// too slowly). Only the final Swift file is declared as an output: declared
/// intermediate files would become resources of the target.
@main
struct BPFObjectPlugin: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let root = context.package.directoryURL
        let bpfDir = root.appending(path: "bpf")
        let abiDir = root.appending(path: "Sources/CSkbTracerABI/include")
        let files = try FileManager.default.contentsOfDirectory(atPath: bpfDir.path)
            .sorted()
        let sources = files.filter { $0.hasSuffix(".bpf.c") }.map { bpfDir.appending(path: $0) }
        // The ABI headers and the probe list (skbtracer_probes.def) shape the objects too.
        let abiFiles = try FileManager.default.contentsOfDirectory(atPath: abiDir.path).sorted()
        let inputs = files.filter { $0.hasSuffix(".c") || $0.hasSuffix(".h") }.map { bpfDir.appending(path: $0) }
            + abiFiles.map { abiDir.appending(path: $0) }
        let output = context.pluginWorkDirectoryURL.appending(path: "EmbeddedBPFObjects.swift")
        let clang = try context.tool(named: "clang").url
        let objcopy = try context.tool(named: "llvm-objcopy").url
        var arguments = [
            "--clang", clang.path, "--objcopy", objcopy.path,
            "--include", bpfDir.path, "--include", abiDir.path,
            "--work", context.pluginWorkDirectoryURL.path,
            "--output", output.path,
        ]
        arguments += sources.map(\.path)
        return [
            .buildCommand(
                displayName: "Compiling BPF objects (\(sources.count))",
                executable: try context.tool(named: "BPFEmbed").url,
                arguments: arguments,
                inputFiles: inputs,
                outputFiles: [output]
            )
        ]
    }
}
