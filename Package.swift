// swift-tools-version: 6.1
import PackageDescription

// Release builds keep Swift's arithmetic and bounds checks (-Ounchecked only once fuzzing covers the
// parsers, DESIGN.md §8) but drop the dynamic exclusivity checks: each one is a runtime call with a
// thread-local access set on every class-property access of the request path (2% of server CPU
// under memaslap). Debug builds, which run the tests, keep them.
let serverSettings: [SwiftSetting] = [
    .unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release)),
]

let package = Package(
    name: "swiftcached",
    products: [
        .executable(name: "swiftcached", targets: ["swiftcached"]),
        .executable(name: "swiftcached-loadtest", targets: ["LoadTest"]),
    ],
    dependencies: [
        // The server logs through swift-log; the load-test harness (Tools/) uses the other two.
        .package(url: "https://github.com/apple/swift-log", from: "1.16.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
    ],
    targets: [
        .systemLibrary(name: "CLibevent", pkgConfig: "libevent_core", providers: [.apt(["libevent-dev"])]),
        // TLS on the stream listeners (-Z): Debian's OpenSSL 3.
        .systemLibrary(name: "COpenSSL", pkgConfig: "openssl", providers: [.apt(["libssl-dev"])]),
        .target(name: "CGetopt"),
        .target(name: "CPrefetch"),
        .target(name: "CStripeLock"),
        .target(name: "CPerCPU"),
        .target(name: "Platform", dependencies: ["CStripeLock"], swiftSettings: serverSettings),
        .target(name: "SlabAllocator", swiftSettings: serverSettings),
        .target(name: "CacheEngine", dependencies: ["SlabAllocator", "Platform", "CPrefetch", "CStripeLock", "CPerCPU"], swiftSettings: serverSettings),
        .target(name: "Durability", dependencies: ["Platform", .product(name: "Logging", package: "swift-log")], swiftSettings: serverSettings),
        .target(name: "Broker", dependencies: ["CacheEngine", "Durability", "Platform"], swiftSettings: serverSettings),
        .target(name: "MemcacheProtocol", dependencies: ["CacheEngine", "Platform"], swiftSettings: serverSettings),
        .target(name: "BrokerProtocol", dependencies: ["MemcacheProtocol", "Broker", "CacheEngine", "Platform"], swiftSettings: serverSettings),
        // Redis mode: RESP2/RESP3 parsing and replies (no sockets).
        .target(name: "RESP", dependencies: ["Broker", "CacheEngine", "Platform", "CStripeLock"], swiftSettings: serverSettings),
        .target(name: "Server", dependencies: ["CLibevent", "COpenSSL", "Platform"], swiftSettings: serverSettings),
        .executableTarget(
            name: "swiftcached",
            dependencies: ["Server", "MemcacheProtocol", "BrokerProtocol", "RESP", "Broker", "CacheEngine", "SlabAllocator", "Platform", "CGetopt",
                           "CLibevent", .product(name: "Logging", package: "swift-log")],
            swiftSettings: serverSettings
        ),
        // What the test targets below share (Tests/TestSupport): a handler's reply read out of its OutputBuffer, a scratch directory, a waiters' source, a seeded generator, expectBytes, the tests' hang guard.
        .target(name: "TestSupport", dependencies: ["Platform"], path: "Tests/TestSupport"),
        .testTarget(name: "PlatformTests", dependencies: ["Platform", "TestSupport"]),
        .testTarget(name: "ServerTests", dependencies: ["Server", "Platform", "TestSupport"]),
        .testTarget(name: "SlabAllocatorTests", dependencies: ["SlabAllocator"]),
        .testTarget(name: "CacheEngineTests", dependencies: ["CacheEngine", "SlabAllocator", "Platform", "CPrefetch", "CStripeLock", "TestSupport"]),
        .testTarget(name: "DurabilityTests", dependencies: ["Durability", "Platform", "TestSupport"]),
        .testTarget(name: "BrokerTests", dependencies: ["Broker", "CacheEngine", "Durability", "Platform", "TestSupport"]),
        .testTarget(name: "MemcacheProtocolTests", dependencies: ["MemcacheProtocol", "CacheEngine", "Platform", "TestSupport"]),
        .testTarget(name: "RESPTests", dependencies: ["RESP", "Broker", "CacheEngine", "Platform", "TestSupport"]),
        .testTarget(name: "BrokerProtocolTests", dependencies: ["BrokerProtocol", "MemcacheProtocol", "Broker", "CacheEngine", "Platform", "TestSupport"]),
        // Runs the built binary; imports swiftcached only to compare its option table with -h and README, and TestSupport for the hang guard.
        .testTarget(name: "IntegrationTests", dependencies: ["swiftcached", "TestSupport"], exclude: ["Scripts"]),

        // Load-test harness: the testable core (no Foundation) and the `swiftcached-loadtest` CLI.
        .target(name: "CLoadTestShims", path: "Tools/CLoadTestShims"),
        .target(
            name: "LoadTestCore",
            dependencies: ["CLoadTestShims", .product(name: "Histogram", package: "hdrhistogram-swift")],
            path: "Tools/LoadTestCore",
            swiftSettings: serverSettings
        ),
        .executableTarget(
            name: "LoadTest",
            dependencies: ["LoadTestCore", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Tools/LoadTest",
            swiftSettings: serverSettings
        ),
        .testTarget(name: "LoadTestTests", dependencies: ["LoadTestCore"]),
    ],
    swiftLanguageModes: [.v6]
)

// libFuzzer targets (Tools/fuzz.sh builds them with -sanitize=fuzzer into .build-fuzz): declared
// only when SWIFTCACHED_FUZZ is set, because they have no main of their own (libFuzzer's is
// linked in) and an ordinary build of every product would fail to link them.
if Context.environment["SWIFTCACHED_FUZZ"] != nil {
    let fuzzSettings: [SwiftSetting] = [.unsafeFlags(["-parse-as-library"])]
    package.targets += [
        .target(name: "FuzzSupport", dependencies: ["CacheEngine", "Platform"], path: "Tools/Fuzz/Support"),
        .executableTarget(name: "FuzzMemcache", dependencies: ["FuzzSupport", "MemcacheProtocol", "CacheEngine", "Platform"],
                          path: "Tools/Fuzz/Memcache", swiftSettings: fuzzSettings),
        .executableTarget(name: "FuzzRESP", dependencies: ["FuzzSupport", "RESP", "CacheEngine", "Platform"],
                          path: "Tools/Fuzz/RESP", swiftSettings: fuzzSettings),
        .executableTarget(name: "FuzzBroker", dependencies: ["FuzzSupport", "BrokerProtocol", "Broker", "MemcacheProtocol", "CacheEngine", "Platform"],
                          path: "Tools/Fuzz/Broker", swiftSettings: fuzzSettings),
        .executableTarget(name: "FuzzJournal", dependencies: ["FuzzSupport", "BrokerProtocol", "Broker", "Durability", "MemcacheProtocol", "CacheEngine", "Platform"],
                          path: "Tools/Fuzz/Journal", swiftSettings: fuzzSettings),
        // The option parser's files are symlinks to Sources/swiftcached (FuzzOptions.swift says why).
        .executableTarget(name: "FuzzOptions", dependencies: ["FuzzSupport", "Server", "MemcacheProtocol", "BrokerProtocol", "RESP", "Broker",
                                                             "CacheEngine", "Durability", "Platform", "CGetopt"],
                          path: "Tools/Fuzz/Options", swiftSettings: fuzzSettings),
    ]
    package.products += [
        .executable(name: "FuzzMemcache", targets: ["FuzzMemcache"]),
        .executable(name: "FuzzRESP", targets: ["FuzzRESP"]),
        .executable(name: "FuzzBroker", targets: ["FuzzBroker"]),
        .executable(name: "FuzzJournal", targets: ["FuzzJournal"]),
        .executable(name: "FuzzOptions", targets: ["FuzzOptions"]),
    ]
}
