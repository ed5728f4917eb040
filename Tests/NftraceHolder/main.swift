// A process that makes skbtracer's nftrace tables and is then killed by a kernel
// test (NftraceKernelTests): the tables must go with it, even while a child it
// spawned after making them still runs.
//
//     NftraceHolder NETNS|- READY_FILE
//
// Writes the child's pid to READY_FILE once the tables exist, then waits (60 s at most).
// `-`: the namespace it runs in. A failure is one line on stderr, exit 1.
import Foundation
import SkbTracerModel
import SkbTracerNetfilter
import SkbTracerSystem

let args = CommandLine.arguments
guard args.count == 3 else {
    FileHandle.standardError.write("usage: NftraceHolder NETNS|- READY_FILE\n".data(using: .utf8)!)
    exit(2)
}
do {
    let netns = args[1] == "-" ? nil : try NetnsSwitch(args[1])
    let table = try NftraceTable(filter: TraceFilter(), in: netns)
    let child = try Subprocess(["sleep", "60"], capture: false)
    try "\(child.pid)\n".write(toFile: args[2], atomically: true, encoding: .utf8)
    sleep(60)
    withExtendedLifetime(table) {}
} catch {
    FileHandle.standardError.write("NftraceHolder: \(error)\n".data(using: .utf8)!)
    exit(1)
}
