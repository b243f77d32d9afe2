// The shape of one command-line flag and one `-o` suboption: what getopt_long needs, what `-h`
// prints, what README documents and how the value reaches `Options`. The entries themselves are
// in OptionTable.swift and SubOptionTable.swift.

/// How a flag takes its argument: getopt_long's `has_arg`.
enum ArgumentKind: Sendable {
    case none, required, optional
}

/// What the parser does once a flag has been applied.
enum FlagOutcome: Sendable {
    /// Go on with the next flag.
    case proceed
    /// Refuse the command line: the message goes to stderr and the exit status is 64 (EX_USAGE).
    case refuse(String)
    /// Refuse the command line as memcached's option switch does (`return 1` from its main): the
    /// message goes to stderr and the exit status is 1.
    case reject(String)
    /// Print this to stdout and exit with status 0 (`-h`, `-V`, `-i`).
    case finish(String)
}

/// The state a parse builds: the options, and what is only checked once every flag is read.
struct OptionParse {
    var options = Options()
    /// -I as given (checked against -m at the end).
    var itemSizeMax: Int?
    /// Whether `-o slab_chunk_max` was given (it must then divide the slab page size).
    var slabChunkMaxSet = false
    /// `-o no_chunked_items` or `no_modern`: slab_chunk_max becomes the page size unless given.
    var unchunked = false
    /// `-o slab_sizes` as given (checked once -n and slab_chunk_max are known).
    var slabSizes: String?
}

/// One row of `-h` output: a left column and help text that starts at `column`.
struct HelpRow: Sendable {
    let synopsis: String
    let text: String
}

/// How a flag is shown by `-h`.
struct OptionHelp: Sendable {
    /// The left column; nil derives it: `-x, --long=<placeholder>` (or `--long=<placeholder>`).
    let synopsis: String?
    /// Shown after `=` in the derived synopsis; nil shows no argument.
    let placeholder: String?
    /// Help lines: the first beside the synopsis, the others below it; `{default}` is replaced by
    /// the flag's default.
    let lines: [String]
    /// Where the help text starts (at least one space after the synopsis).
    let column: Int
    /// Rows printed right after this one (`-vv` after `-v`).
    let extraRows: [HelpRow]
    /// Whether the `-o` suboption table is printed under this flag.
    let listsSubOptions: Bool
}

/// Which part of `-h` (and of README) lists a flag.
enum OptionSection: Sendable {
    /// memcached's own flags (README: "Flags").
    case memcached
    /// Broker mode (README: "Broker mode (queues)").
    case broker
    /// Redis mode (README: "Redis mode").
    case redis
}

/// One command-line flag.
struct OptionSpec: Sendable {
    /// The short letter, if the flag has one (memcached's); long-only flags have none.
    let short: Character?
    /// The long name, without `--`.
    let long: String
    let argument: ArgumentKind
    let section: OptionSection
    /// How `-h` shows it; nil = not listed (flags refused as not implemented yet).
    let help: OptionHelp?
    /// The default, as `-h` (`{default}`) and README's default column show it; nil = none shown.
    let defaultValue: String?
    /// The `stats settings` name that shows the flag's effect, if any.
    let settingsName: String?
    /// Set for memcached flags that are recognised but refused: what the flag would do.
    let notImplemented: String?
    /// Applies the flag's argument ("" when it has none) to the parse.
    let apply: @Sendable (_ argument: String, _ parse: inout OptionParse) -> FlagOutcome

    /// A flag that `-h` lists.
    init(_ short: Character?, _ long: String, _ argument: ArgumentKind = .none, _ placeholder: String? = nil,
         section: OptionSection = .memcached, default defaultValue: String? = nil, settings settingsName: String? = nil,
         synopsis: String? = nil, column: Int = 26, extraRows: [HelpRow] = [], listsSubOptions: Bool = false,
         help lines: [String],
         apply: @escaping @Sendable (_ argument: String, _ parse: inout OptionParse) -> FlagOutcome) {
        self.short = short
        self.long = long
        self.argument = argument
        self.section = section
        self.help = OptionHelp(synopsis: synopsis, placeholder: placeholder, lines: lines, column: column,
                               extraRows: extraRows, listsSubOptions: listsSubOptions)
        self.defaultValue = defaultValue
        self.settingsName = settingsName
        self.notImplemented = nil
        self.apply = apply
    }

    /// A memcached flag swiftcached does not implement yet: recognised, so that using it is refused
    /// with a clear message instead of getopt's "invalid option"; not listed by `-h`.
    init(notYet short: Character, _ long: String, _ argument: ArgumentKind, what: String) {
        self.short = short
        self.long = long
        self.argument = argument
        self.section = .memcached
        self.help = nil
        self.defaultValue = nil
        self.settingsName = nil
        self.notImplemented = what
        self.apply = { _, _ in .refuse("-\(short), --\(long) (\(what)) is not supported by swiftcached yet") }
    }

    /// How `-h` and README name the flag: `-p` or, for long-only flags, `--broker-port`.
    var displayName: String {
        short.map { "-\($0)" } ?? "--\(long)"
    }
}

/// One `-o` suboption (`name` or `name=value`).
struct SubOptionSpec: Sendable {
    let name: String
    /// Shown after `=` by `-h`; nil for suboptions listed without a value.
    let placeholder: String?
    /// Help lines (`{default}` is replaced by the default); empty = not listed by `-h`.
    let lines: [String]
    let defaultValue: String?
    /// The `stats settings` name that shows the suboption's effect, if any.
    let settingsName: String?
    /// Applies the value (nil without `=`); returns the error message of a bad value.
    let apply: @Sendable (_ value: String?, _ parse: inout OptionParse) -> String?

    init(_ name: String, _ placeholder: String? = nil, default defaultValue: String? = nil, settings settingsName: String? = nil,
         help lines: [String],
         apply: @escaping @Sendable (_ value: String?, _ parse: inout OptionParse) -> String?) {
        self.name = name
        self.placeholder = placeholder
        self.lines = lines
        self.defaultValue = defaultValue
        self.settingsName = settingsName
        self.apply = apply
    }
}
