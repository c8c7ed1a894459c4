"""
A Jupyter kernel for Julia that needs nothing beyond Julia's standard library and libzmq (through `ccall`):
for machines where IJulia cannot be installed because the Julia package server is out of reach.

    julia --startup-file=no BeakerJuliaKernel.jl <connection file | - to read it from stdin>

Tasks, all on the one Julia thread:
- the root task serves the shell socket and runs user code in `Main`;
- a task serves the control socket (interrupt, shutdown), between the yields of user code;
- a task per output stream (stdout, stderr) publishes what user code writes;
- the heartbeat is echoed by libzmq on a separate OS thread (see LibZMQ.start_heartbeat).
"""
module BeakerJuliaKernel

using Base64: base64encode
using Dates
using Logging: ConsoleLogger, global_logger
using REPL
using REPL: REPLCompletions
using SHA: hmac_sha256
using UUIDs: uuid4

include("json.jl")
using .JSON
include("libzmq.jl")
using .LibZMQ
using .LibZMQ: recv_multipart, send_multipart
include("wire.jl")
include("streams.jl")
include("history.jl")

const KERNEL_VERSION = "0.1.0"

mutable struct Kernel
    session::Session
    context::Ptr{Cvoid}
    shell::Socket
    control::Socket
    stdin::Socket
    iopub::Socket
    streams::Vector{StreamCapture}
    shell_task::Task
    "The shell request whose output is being published (the parent of stream, display_data, input_request)."
    parent::Union{Message,Nothing}
    allow_stdin::Bool
    "True while user code runs in `shell_task`: only then is there something for an interrupt to stop."
    executing::Bool
    execution_count::Int
    history::Vector{HistoryEntry}
end

"The kernel of this process, for the functions user code can call (`BeakerJuliaKernel.clear_output`)."
const RUNNING = Ref{Kernel}()

include("display.jl")
include("stdin.jl")
include("handlers.jl")

# The kernel's own diagnostics go to the process's original stderr (the container log), never to the
# captured stream that the front end sees.
const LOG = Ref{IO}(stderr)

function log_message(msg::AbstractString)
    println(LOG[], "[beaker-julia] ", msg)
    flush(LOG[])
end

log_error(what::AbstractString, e, bt) = log_message(what * ": " * sprint(showerror, e, bt))

function publish(k::Kernel, msg_type::AbstractString, content; parent::Union{Message,Nothing}=k.parent)
    topic = Vector{UInt8}("kernel.$(k.session.id).$msg_type")
    send_message(k.iopub, k.session, msg_type, content; parent=parent, identities=[topic])
end

function reply(k::Kernel, socket::Socket, request::Message, content)
    reply_type = replace(msg_type(request), r"_request$" => "_reply")
    send_message(socket, k.session, reply_type, content; parent=request)
end

"The next correctly signed message on `socket`, or `nothing` if what arrived had to be dropped."
function receive(k::Kernel, socket::Socket)
    frames = recv_multipart(socket)
    try
        return decode(k.session, frames)
    catch e
        e isa InterruptException && rethrow()
        log_error("dropping a message", e, catch_backtrace())
        return nothing
    end
end

"Make the user's code, if it is running, throw an InterruptException."
function interrupt_execution(k::Kernel)
    if k.executing && k.shell_task !== current_task()
        # At most once per execution: a second exception could hit the kernel's own code after the user's
        # code already stopped.
        k.executing = false
        schedule(k.shell_task, InterruptException(); error=true)
    end
end

# Every request is wrapped in busy/idle status messages with it as parent, and answered even when its
# handler fails.
function dispatch(k::Kernel, socket::Socket, request::Message, handlers::Dict{String,Function})
    type = msg_type(request)
    publish(k, "status", Dict("execution_state" => "busy"); parent=request)
    try
        handler = get(handlers, type, nothing)
        if handler === nothing
            log_message("ignoring unsupported message type $type")
        else
            # In the newest world, so that methods the user defined in earlier cells are visible.
            Base.invokelatest(handler, k, socket, request)
        end
    catch e
        bt = catch_backtrace()
        log_error("handling $type", e, bt)
        endswith(type, "_request") && reply(k, socket, request, error_reply(e, bt))
    finally
        publish(k, "status", Dict("execution_state" => "idle"); parent=request)
    end
end

# The kernel's own code runs with SIGINT deferred (`disable_sigint`) so that an interrupt cannot cut a reply
# short; `run_user_code` lifts that for the user's code only.
function serve_shell(k::Kernel)
    while true
        request = try
            receive(k, k.shell)
        catch e
            e isa InterruptException || rethrow()
            continue  # SIGINT while idle: nothing to interrupt
        end
        request === nothing && continue
        k.parent = request
        try
            disable_sigint(() -> dispatch(k, k.shell, request, SHELL_HANDLERS))
        catch e
            # A SIGINT deferred while the kernel finished a request surfaces here; the code it was meant
            # for has already stopped.
            e isa InterruptException || log_error("shell", e, catch_backtrace())
        end
    end
end

function serve_control(k::Kernel)
    while true
        try
            request = receive(k, k.control)
            request === nothing || disable_sigint(() -> dispatch(k, k.control, request, CONTROL_HANDLERS))
        catch e
            # SIGINT goes to whichever task is running when it arrives; it is meant for the user's code.
            e isa InterruptException ? interrupt_execution(k) : log_error("control", e, catch_backtrace())
        end
    end
end

function shutdown(k::Kernel)
    foreach(close, (k.shell, k.control, k.stdin, k.iopub))
    LibZMQ.terminate(k.context)  # delivers the shutdown_reply, stops the heartbeat thread
    exit(0)
end

function read_connection(path::AbstractString)
    info = parse_json(path == "-" ? read(stdin, String) : read(path, String))
    scheme = get(info, "signature_scheme", "hmac-sha256")
    scheme == "hmac-sha256" || error("unsupported signature_scheme $scheme (only hmac-sha256)")
    return info
end

function endpoint(info::Dict, port_name::String)
    port = info[port_name]
    info["transport"] == "ipc" ? "ipc://$(info["ip"])-$port" : "$(info["transport"])://$(info["ip"]):$port"
end

function bound_socket(ctx::Ptr{Cvoid}, type::Integer, info::Dict, port_name::String)
    s = Socket(ctx, type)
    bind(s, endpoint(info, port_name))
    return s
end

function main(args::Vector{String})
    length(args) == 1 || error("usage: julia BeakerJuliaKernel.jl <connection file | ->")
    Base.exit_on_sigint(false)  # SIGINT is an interrupt request, not the end of the kernel
    LOG[] = Base.fdio(ccall(:dup, Cint, (Cint,), 2), true)
    info = read_connection(args[1])

    ctx = LibZMQ.context()
    k = Kernel(Session(Vector{UInt8}(info["key"]), string(uuid4())), ctx,
               bound_socket(ctx, ZMQ_ROUTER, info, "shell_port"),
               bound_socket(ctx, ZMQ_ROUTER, info, "control_port"),
               bound_socket(ctx, ZMQ_ROUTER, info, "stdin_port"),
               bound_socket(ctx, ZMQ_PUB, info, "iopub_port"),
               StreamCapture[], current_task(), nothing, false, false, 0, HistoryEntry[])
    heartbeat = bound_socket(ctx, ZMQ_REP, info, "hb_port")
    RUNNING[] = k

    k.streams = [capture_stream("stdout", redirect_stdout), capture_stream("stderr", redirect_stderr)]
    foreach(cap -> start_pump(k, cap), k.streams)
    global_logger(ConsoleLogger(stderr))  # @info/@warn to the captured stderr, not the saved one
    pushdisplay(KernelDisplay(k))
    Core.eval(Base, :(stdin = $(KernelStdin(k))))

    @async serve_control(k)
    LibZMQ.start_heartbeat(heartbeat)
    publish(k, "status", Dict("execution_state" => "starting"))
    log_message("Julia $VERSION kernel ready ($(endpoint(info, "shell_port")))")
    serve_shell(k)
end

end # module BeakerJuliaKernel

if abspath(PROGRAM_FILE) == @__FILE__
    BeakerJuliaKernel.main(ARGS)
end
