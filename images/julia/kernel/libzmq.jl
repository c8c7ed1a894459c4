# The few libzmq calls the kernel needs, through ccall (the image has libzmq5 but no ZMQ.jl, which would come
# from the Julia package server).
#
# Waiting for a message never blocks the Julia thread: each socket's ZMQ_FD is watched by libuv (FileWatching),
# so other tasks (the control channel, the stdout/stderr pumps) keep running while a socket is idle. That fd is
# edge-like: it only says "socket state may have changed", so ZMQ_EVENTS must be checked before every wait.
module LibZMQ

using FileWatching: FDWatcher
using Libdl: dlopen, dlsym

export Socket, ZMQ_PUB, ZMQ_REP, ZMQ_ROUTER

const libzmq = "libzmq.so.5"

const ZMQ_PUB = 1
const ZMQ_REP = 4
const ZMQ_ROUTER = 6
const ZMQ_DONTWAIT = 1
const ZMQ_SNDMORE = 2
const ZMQ_FD = 14
const ZMQ_EVENTS = 15
const ZMQ_LINGER = 17
const ZMQ_POLLIN = 1
const EINTR = 4
const EAGAIN = 11
const ZMQ_MSG_T_SIZE = 64  # sizeof(zmq_msg_t), an opaque struct

struct ZMQError <: Exception
    what::String
    errno::Int
end
Base.showerror(io::IO, e::ZMQError) = print(io, "ZMQError: ", e.what, ": ",
    unsafe_string(ccall((:zmq_strerror, libzmq), Cstring, (Cint,), e.errno)))

zmq_errno() = Int(ccall((:zmq_errno, libzmq), Cint, ()))

context() = ccall((:zmq_ctx_new, libzmq), Ptr{Cvoid}, ())

"Wait for the I/O thread to deliver what is still queued (bounded by each socket's linger), then free it."
terminate(ctx::Ptr{Cvoid}) = ccall((:zmq_ctx_term, libzmq), Cint, (Ptr{Cvoid},), ctx)

mutable struct Socket
    ptr::Ptr{Cvoid}
    watcher::Union{Nothing,FDWatcher}
end

function Socket(ctx::Ptr{Cvoid}, type::Integer)
    ptr = ccall((:zmq_socket, libzmq), Ptr{Cvoid}, (Ptr{Cvoid}, Cint), ctx, type)
    ptr == C_NULL && throw(ZMQError("zmq_socket", zmq_errno()))
    s = Socket(ptr, nothing)
    # Replies sent just before shutdown still get out, but a vanished peer cannot hold up the exit.
    set_int_option(s, ZMQ_LINGER, 1000)
    return s
end

function set_int_option(s::Socket, option::Integer, value::Integer)
    v = Ref{Cint}(value)
    rc = ccall((:zmq_setsockopt, libzmq), Cint, (Ptr{Cvoid}, Cint, Ptr{Cint}, Csize_t), s.ptr, option, v, sizeof(Cint))
    rc == 0 || throw(ZMQError("zmq_setsockopt($option)", zmq_errno()))
end

function get_int_option(s::Socket, option::Integer)
    v = Ref{Cint}(0)
    len = Ref{Csize_t}(sizeof(Cint))
    while ccall((:zmq_getsockopt, libzmq), Cint, (Ptr{Cvoid}, Cint, Ptr{Cint}, Ptr{Csize_t}),
                s.ptr, option, v, len) != 0
        zmq_errno() == EINTR || throw(ZMQError("zmq_getsockopt($option)", zmq_errno()))
    end
    return Int(v[])
end

function Base.bind(s::Socket, endpoint::AbstractString)
    rc = ccall((:zmq_bind, libzmq), Cint, (Ptr{Cvoid}, Cstring), s.ptr, endpoint)
    rc == 0 || throw(ZMQError("zmq_bind($endpoint)", zmq_errno()))
end

Base.close(s::Socket) = ccall((:zmq_close, libzmq), Cint, (Ptr{Cvoid},), s.ptr)

"True when a message can be received right now."
readable(s::Socket) = get_int_option(s, ZMQ_EVENTS) & ZMQ_POLLIN != 0

function wait_readable(s::Socket)
    if s.watcher === nothing
        s.watcher = FDWatcher(RawFD(get_int_option(s, ZMQ_FD)), true, false)
    end
    while !readable(s)
        wait(s.watcher)
    end
end

"Send all frames as one multipart message. Never yields, so frames from different tasks cannot interleave."
function send_multipart(s::Socket, frames::Vector{Vector{UInt8}})
    for (i, frame) in enumerate(frames)
        flags = i < length(frames) ? ZMQ_SNDMORE : 0
        while ccall((:zmq_send, libzmq), Cint, (Ptr{Cvoid}, Ptr{UInt8}, Csize_t, Cint),
                    s.ptr, frame, length(frame), flags) == -1
            zmq_errno() == EINTR || throw(ZMQError("zmq_send", zmq_errno()))
        end
    end
end

# Receive one frame; `nothing` if none is ready (only possible for the first frame of a message, because
# ZMQ delivers multipart messages atomically). Returns (frame, more).
function recv_frame(s::Socket)
    msg = Vector{UInt8}(undef, ZMQ_MSG_T_SIZE)
    GC.@preserve msg begin
        p = pointer(msg)
        ccall((:zmq_msg_init, libzmq), Cint, (Ptr{UInt8},), p)
        try
            while ccall((:zmq_msg_recv, libzmq), Cint, (Ptr{UInt8}, Ptr{Cvoid}, Cint), p, s.ptr, ZMQ_DONTWAIT) == -1
                err = zmq_errno()
                err == EAGAIN && return nothing
                err == EINTR || throw(ZMQError("zmq_msg_recv", err))
            end
            size = ccall((:zmq_msg_size, libzmq), Csize_t, (Ptr{UInt8},), p)
            data = ccall((:zmq_msg_data, libzmq), Ptr{UInt8}, (Ptr{UInt8},), p)
            frame = Vector{UInt8}(undef, size)
            unsafe_copyto!(pointer(frame), data, size)
            more = ccall((:zmq_msg_more, libzmq), Cint, (Ptr{UInt8},), p) != 0
            return frame, more
        finally
            ccall((:zmq_msg_close, libzmq), Cint, (Ptr{UInt8},), p)
        end
    end
end

"Wait (without blocking other tasks) for the next multipart message and return its frames."
function recv_multipart(s::Socket)
    while true
        wait_readable(s)
        received = recv_frame(s)
        received === nothing && continue
        frame, more = received
        frames = [frame]
        while more
            frame, more = recv_frame(s)
            push!(frames, frame)
        end
        return frames
    end
end

# The heartbeat must answer even while user code keeps the Julia thread busy, so it runs libzmq's own echo
# loop (zmq_proxy from the REP socket to itself) on a plain libuv thread, as IJulia does. That thread never
# touches the Julia runtime: the function pointers are looked up beforehand and the entry point only makes
# ccalls through them.
const PROXY = Ref{Ptr{Cvoid}}(C_NULL)
const CLOSE = Ref{Ptr{Cvoid}}(C_NULL)
const HEARTBEAT_THREAD = Ref{UInt64}(0)  # uv_thread_t

function heartbeat_loop(sock::Ptr{Cvoid})
    # Returns when the context is terminated at shutdown; the socket must then be closed by this thread.
    ccall(PROXY[], Cint, (Ptr{Cvoid}, Ptr{Cvoid}, Ptr{Cvoid}), sock, sock, C_NULL)
    ccall(CLOSE[], Cint, (Ptr{Cvoid},), sock)
    nothing
end

function start_heartbeat(s::Socket)
    lib = dlopen(libzmq)
    PROXY[] = dlsym(lib, :zmq_proxy)
    CLOSE[] = dlsym(lib, :zmq_close)
    entry = @cfunction(heartbeat_loop, Cvoid, (Ptr{Cvoid},))
    rc = ccall(:uv_thread_create, Cint, (Ptr{UInt64}, Ptr{Cvoid}, Ptr{Cvoid}), HEARTBEAT_THREAD, entry, s.ptr)
    rc == 0 || error("uv_thread_create failed ($rc)")
end

end # module LibZMQ
