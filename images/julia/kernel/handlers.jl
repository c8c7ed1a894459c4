# Request handlers: `handler(kernel, socket, request)`, looked up by msg_type in the tables at the end.

const LANGUAGE_INFO = Dict(
    "name" => "julia",
    "version" => string(VERSION),
    "mimetype" => "application/julia",
    "file_extension" => ".jl",
    "pygments_lexer" => "julia",
    "codemirror_mode" => "julia",
)

function handle_kernel_info(k::Kernel, socket::Socket, request::Message)
    reply(k, socket, request, Dict(
        "status" => "ok",
        "protocol_version" => PROTOCOL_VERSION,
        "implementation" => "beaker-julia",
        "implementation_version" => KERNEL_VERSION,
        "language_info" => LANGUAGE_INFO,
        "banner" => "Julia $VERSION (Beaker's standard-library Julia kernel)",
        "help_links" => [Dict("text" => "Julia documentation",
                              "url" => "https://docs.julialang.org/en/v$(VERSION.major).$(VERSION.minor)/")],
    ))
end

# ---- execute ----------------------------------------------------------------------------------------------

struct Failure
    exception::Any
    backtrace::Vector
end

"""
Run `f` (the user's code) with SIGINT enabled, returning its value or a `Failure`. Called by the shell task
while the kernel holds SIGINT deferred.
"""
function run_user_code(f, k::Kernel)
    k.executing = true
    try
        try
            Base.sigatomic_end()  # may itself throw an InterruptException that was waiting
            return f()
        finally
            Base.sigatomic_begin()
        end
    catch e
        return Failure(e, catch_backtrace())
    finally
        k.executing = false
    end
end

# The frames of the user's code: what lies below include_string (and its eval) or in this kernel's files is
# the kernel.
is_kernel_frame(f::Base.StackFrame) = f.func === :include_string || startswith(string(f.file), @__DIR__)

function user_frames(bt::Vector)
    frames = stacktrace(bt)
    cut = findfirst(is_kernel_frame, frames)
    cut === nothing || (frames = frames[1:cut-1])
    while !isempty(frames) && last(frames).func === :eval
        pop!(frames)
    end
    return frames
end

function error_reply(e, bt::Vector)
    # include_string wraps every error in a LoadError, macro expansion errors in one more.
    while e isa LoadError
        e = e.error
    end
    evalue = sprint(showerror, e)
    traceback = split("ERROR: " * evalue, '\n')
    frames = user_frames(bt)
    if !isempty(frames)
        push!(traceback, "Stacktrace:")
        append!(traceback, [" [$i] " * sprint(show, frame) for (i, frame) in enumerate(frames)])
    end
    return Dict("status" => "error", "ename" => string(nameof(typeof(e))), "evalue" => evalue,
                "traceback" => traceback)
end

error_reply(f::Failure) = error_reply(f.exception, f.backtrace)

function evaluate_user_expressions(expressions::AbstractDict)
    results = Dict{String,Any}()
    for (name, code) in expressions
        results[name] = try
            Dict("status" => "ok", "data" => mime_bundle(Core.eval(Main, Meta.parse(code))), "metadata" => Dict())
        catch e
            error_reply(e, catch_backtrace())
        end
    end
    return results
end

# Like ipykernel with stop_on_error: requests already queued behind a failed execution were sent on the
# assumption that it would succeed, so they are answered with status "aborted" instead of being run.
function abort_queued(k::Kernel)
    while LibZMQ.readable(k.shell)
        request = receive(k, k.shell)
        request === nothing && continue
        publish(k, "status", Dict("execution_state" => "busy"); parent=request)
        reply(k, k.shell, request, Dict("status" => "aborted"))
        publish(k, "status", Dict("execution_state" => "idle"); parent=request)
    end
end

# `?name` (IJulia's and the REPL's help mode) answers with the documentation as a pager payload.
help_query(code::AbstractString) = (s = strip(code); startswith(s, '?') ? strip(s[2:end]) : nothing)

function help_payload(query::AbstractString)
    docs = Core.eval(Main, REPL.helpmode(devnull, query))
    return [Dict("source" => "page", "data" => mime_bundle(docs), "start" => 0)]
end

function handle_execute(k::Kernel, socket::Socket, request::Message)
    c = request.content
    code = c["code"]::String
    silent = get(c, "silent", false)::Bool
    store_history = get(c, "store_history", true)::Bool && !silent
    store_history && (k.execution_count += 1)
    n = k.execution_count
    k.allow_stdin = get(c, "allow_stdin", true)::Bool
    silent || publish(k, "execute_input", Dict("code" => code, "execution_count" => n))
    query = help_query(code)

    outcome = run_user_code(k) do
        if query !== nothing
            return (nothing, Base.invokelatest(help_payload, query), Dict())
        end
        value = include_string(Main, code, "In[$n]")
        silent || Core.eval(Main, Expr(:(=), :ans, QuoteNode(value)))
        show_value = !silent && value !== nothing && !REPL.ends_with_semicolon(code)
        # invokelatest: show methods the cell itself just defined must count.
        result = show_value ? Base.invokelatest(mime_bundle, value) : nothing
        expressions = Base.invokelatest(evaluate_user_expressions, get(c, "user_expressions", Dict()))
        (result, [], expressions)
    end
    flush_streams(k)  # all output of the request goes out before its result and reply

    if outcome isa Failure
        store_history && push!(k.history, HistoryEntry(n, code, nothing))
        content = error_reply(outcome)
        publish(k, "error", Dict(key => content[key] for key in ("ename", "evalue", "traceback")))
        reply(k, socket, request, merge(content, Dict("execution_count" => n)))
        get(c, "stop_on_error", true) && abort_queued(k)
    else
        result, payload, expressions = outcome
        store_history && push!(k.history, HistoryEntry(n, code, result === nothing ? nothing : result["text/plain"]))
        result === nothing ||
            publish(k, "execute_result", Dict("execution_count" => n, "data" => result, "metadata" => Dict()))
        reply(k, socket, request, Dict("status" => "ok", "execution_count" => n,
                                        "user_expressions" => expressions, "payload" => payload))
    end
end

# ---- code intelligence ------------------------------------------------------------------------------------

function code_status(code::AbstractString)
    pos = 1
    while pos <= ncodeunits(code)
        ex, pos = Meta.parse(code, pos; raise=false)
        ex isa Expr && ex.head === :incomplete && return "incomplete"
        ex isa Expr && ex.head === :error && return "invalid"
    end
    return "complete"
end

function handle_is_complete(k::Kernel, socket::Socket, request::Message)
    status = code_status(request.content["code"]::String)
    content = Dict{String,Any}("status" => status)
    status == "incomplete" && (content["indent"] = "")
    reply(k, socket, request, content)
end

# Jupyter counts cursor positions in characters (code points), Julia indexes strings by bytes.
byte_offset(s::AbstractString, chars::Integer) =
    chars <= 0 ? 0 : chars >= length(s) ? ncodeunits(s) : nextind(s, 0, chars + 1) - 1
char_offset(s::AbstractString, bytes::Integer) = bytes <= 0 ? 0 : length(s, 1, bytes)

function handle_complete(k::Kernel, socket::Socket, request::Message)
    code = request.content["code"]::String
    cursor = request.content["cursor_pos"]::Int
    completions, range, _ = REPLCompletions.completions(code, byte_offset(code, cursor), Main)
    reply(k, socket, request, Dict(
        "status" => "ok",
        "matches" => unique!(String[REPLCompletions.completion_text(c) for c in completions]),
        "cursor_start" => char_offset(code, first(range) - 1),
        "cursor_end" => cursor,
        "metadata" => Dict(),
    ))
end

# The (possibly dotted) name around the cursor, e.g. "Base.sort!" in "Base.so|rt!(x)".
function name_at(code::AbstractString, cursor::Integer)
    chars = collect(code)
    is_name_char(c) = Base.is_id_char(c) || c == '.'
    start = clamp(cursor, 0, length(chars))
    stop = start + 1
    while start >= 1 && is_name_char(chars[start])
        start -= 1
    end
    while stop <= length(chars) && is_name_char(chars[stop])
        stop += 1
    end
    return strip(String(chars[start+1:stop-1]), '.')
end

is_name_path(ex) = ex isa Symbol ||
    (ex isa Expr && ex.head === :. && length(ex.args) == 2 && is_name_path(ex.args[1]) &&
     ex.args[2] isa QuoteNode && ex.args[2].value isa Symbol)

# The docstring of a name defined in Main, as a MIME bundle; `nothing` if there is no such name.
function documentation(name::AbstractString)
    ex = Meta.parse(name; raise=false)
    is_name_path(ex) || return nothing
    try
        Core.eval(Main, ex)
    catch
        return nothing  # not defined (or not reachable): nothing to document
    end
    return mime_bundle(Core.eval(Main, :(Base.Docs.@doc $ex)))
end

function handle_inspect(k::Kernel, socket::Socket, request::Message)
    code = request.content["code"]::String
    data = documentation(name_at(code, request.content["cursor_pos"]::Int))
    reply(k, socket, request, Dict("status" => "ok", "found" => data !== nothing,
                                   "data" => data === nothing ? Dict() : data, "metadata" => Dict()))
end

# ---- the rest ---------------------------------------------------------------------------------------------

function handle_history(k::Kernel, socket::Socket, request::Message)
    c = request.content
    with_output = get(c, "output", false)
    history = [[HISTORY_SESSION, e.line, with_output ? [e.input, e.output] : e.input]
               for e in select_history(k.history, c)]
    reply(k, socket, request, Dict("status" => "ok", "history" => history))
end

# Comms (widgets) are not supported, so there are never any open.
handle_comm_info(k::Kernel, socket::Socket, request::Message) =
    reply(k, socket, request, Dict("status" => "ok", "comms" => Dict()))

function handle_interrupt(k::Kernel, socket::Socket, request::Message)
    interrupt_execution(k)
    reply(k, socket, request, Dict("status" => "ok"))
end

function handle_shutdown(k::Kernel, socket::Socket, request::Message)
    reply(k, socket, request, Dict("status" => "ok", "restart" => get(request.content, "restart", false)))
    # The idle status that dispatch would send after this handler goes out first, then the process ends.
    publish(k, "status", Dict("execution_state" => "idle"); parent=request)
    shutdown(k)
end

const SHELL_HANDLERS = Dict{String,Function}(
    "execute_request" => handle_execute,
    "kernel_info_request" => handle_kernel_info,
    "is_complete_request" => handle_is_complete,
    "complete_request" => handle_complete,
    "inspect_request" => handle_inspect,
    "history_request" => handle_history,
    "comm_info_request" => handle_comm_info,
    "shutdown_request" => handle_shutdown,  # deprecated on shell, still sent by old clients
)

const CONTROL_HANDLERS = Dict{String,Function}(
    "interrupt_request" => handle_interrupt,
    "shutdown_request" => handle_shutdown,
    "kernel_info_request" => handle_kernel_info,
)
