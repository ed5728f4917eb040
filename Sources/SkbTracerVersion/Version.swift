/// What `skbtracer --version` prints.
public enum SkbTracerVersion {
    /// The release this source is; raised when a release is made.
    public static let number = "0.15.0"

    /// The abbreviated commit the binary was built from (`git rev-parse --short
    /// HEAD`), with `-dirty` when tracked files were modified, or "unknown"
    /// outside a git checkout. Written by Plugins/BuildInfoPlugin at build time.
    public static let commit = gitCommit

    /// `skbtracer 0.15.0 (git 1a2b3c4)`.
    public static let line = "skbtracer \(number) (git \(commit))"
}
