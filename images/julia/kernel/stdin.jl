# `readline()` in user code, answered by the front end through stdin input_request / input_reply.

"Replaces `Base.stdin`: `readline()` asks the front end with an input_request."
struct KernelStdin <: IO
    kernel::Kernel
end

struct StdinNotAllowed <: Exception end
Base.showerror(io::IO, ::StdinNotAllowed) =
    print(io, "StdinNotAllowed: this request was sent with allow_stdin=false; the front end cannot answer readline()")

function Base.readline(io::KernelStdin; keep::Bool=false)
    line = request_input(io.kernel, "")
    return keep ? line * "\n" : line
end

function request_input(k, prompt::AbstractString)
    request = k.parent
    (request === nothing || !k.allow_stdin) && throw(StdinNotAllowed())
    flush_streams(k)  # a prompt printed with print() shows before the input box
    # The reply must reach the client that sent the execute_request: same identity frames, on stdin.
    send_message(k.stdin, k.session, "input_request", Dict("prompt" => prompt, "password" => false);
                 parent=request)
    while true
        reply = receive(k, k.stdin)
        reply !== nothing && msg_type(reply) == "input_reply" && return string(reply.content["value"])
    end
end
