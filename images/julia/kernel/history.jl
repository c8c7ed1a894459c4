# The inputs (and text/plain results) of this kernel process, for history_request. Kept in memory only:
# there is one session, numbered HISTORY_SESSION, and it ends with the process.

const HISTORY_SESSION = 1

mutable struct HistoryEntry
    line::Int                          # the execution_count of the input
    input::String
    output::Union{String,Nothing}      # text/plain of the execute_result, if there was one
end

# Like IPython's history search: `*` any run of characters, `?` one character, the rest literal.
function glob_regex(pattern::AbstractString)
    out = IOBuffer()
    for c in pattern
        if c == '*'
            print(out, ".*")
        elseif c == '?'
            print(out, '.')
        elseif c in "\\^\$.|+()[]{}"
            print(out, '\\', c)
        else
            print(out, c)
        end
    end
    return Regex("^" * String(take!(out)) * "\$", "s")
end

# Session numbers in a request: 0 and negative numbers count back from the current session (IPython's
# convention), positive ones are absolute.
is_this_session(session::Integer) = session == HISTORY_SESSION || session == 0

"The entries a history_request asks for, oldest first."
function select_history(entries::Vector{HistoryEntry}, c::AbstractDict)
    access = get(c, "hist_access_type", "tail")
    if access == "tail"
        n = get(c, "n", 10)
        n isa Integer || (n = 10)
        return entries[max(1, length(entries) - n + 1):end]
    elseif access == "range"
        is_this_session(get(c, "session", 0)) || return HistoryEntry[]
        start = something(get(c, "start", nothing), 1)
        stop = get(c, "stop", nothing)
        return filter(e -> e.line >= start && (stop === nothing || e.line < stop), entries)
    elseif access == "search"
        regex = glob_regex(get(c, "pattern", "*"))
        found = filter(e -> occursin(regex, e.input), entries)
        if get(c, "unique", false)
            # The latest occurrence of each input, in the order of those latest occurrences.
            seen = Set{String}()
            found = reverse!(filter!(e -> !(e.input in seen) && (push!(seen, e.input); true), reverse(found)))
        end
        n = get(c, "n", nothing)
        n isa Integer && (found = found[max(1, length(found) - n + 1):end])
        return found
    end
    return HistoryEntry[]
end
