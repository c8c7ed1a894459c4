# stdout/stderr of user code (and of C libraries it calls) as `stream` messages.
#
# Both streams are redirected once, at startup, into pipes (C-level output too, since fd 1 and 2 are
# redirected). A pump task per pipe sends what arrives as `stream` messages while code runs.
#
# Beaker parses the concatenated stdout of a request as JSON, so the end of a request's output must be exact:
# `flush_streams` writes a marker into each pipe and waits until the pump has read up to it. Everything the
# request wrote before the marker has then been published, before the reply goes out.

const FLUSH_MARKER = Vector{UInt8}("\0beaker-flush-$(string(uuid4()))\0")

mutable struct StreamCapture
    name::String                       # "stdout" or "stderr", as in the stream message
    reader::Base.PipeEndpoint
    writer::Base.PipeEndpoint
    markers_written::Int
    markers_read::Int
    marker_read::Condition
end

function capture_stream(name::String, redirect::Function)
    reader, writer = redirect()
    return StreamCapture(name, reader, writer, 0, 0, Condition())
end

function search(haystack::Vector{UInt8}, needle::Vector{UInt8})
    for i in 1:length(haystack)-length(needle)+1
        view(haystack, i:i+length(needle)-1) == needle && return i
    end
    return nothing
end

# How many trailing bytes must wait for the next read: a possible start of the flush marker, or an
# incomplete UTF-8 sequence (sending it now would turn one character into two replacement characters).
function held_back(buf::Vector{UInt8})
    for k in min(length(FLUSH_MARKER) - 1, length(buf)):-1:1
        view(buf, length(buf)-k+1:length(buf)) == view(FLUSH_MARKER, 1:k) && return k
    end
    for k in 1:min(3, length(buf))
        b = buf[end-k+1]
        b & 0xc0 == 0x80 && continue               # continuation byte: look further back
        needed = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1
        return needed > k ? k : 0
    end
    return 0
end

function publish_stream(k, cap::StreamCapture, bytes::AbstractVector{UInt8})
    isempty(bytes) && return
    publish(k, "stream", Dict("name" => cap.name, "text" => String(copy(bytes))))
end

# Publish what can be published; returns the bytes to keep for later.
function forward_output(k, cap::StreamCapture, buf::Vector{UInt8})
    while (i = search(buf, FLUSH_MARKER)) !== nothing
        publish_stream(k, cap, view(buf, 1:i-1))
        buf = buf[i+length(FLUSH_MARKER):end]
        cap.markers_read += 1
        notify(cap.marker_read)
    end
    keep = held_back(buf)
    publish_stream(k, cap, view(buf, 1:length(buf)-keep))
    return buf[end-keep+1:end]
end

function pump(k, cap::StreamCapture)
    pending = UInt8[]
    while true
        chunk = try
            readavailable(cap.reader)
        catch e
            e isa InterruptException || rethrow()
            # SIGINT is delivered to whichever task is running; it is meant for the user's code.
            interrupt_execution(k)
            continue
        end
        isempty(chunk) && eof(cap.reader) && return
        append!(pending, chunk)
        try
            pending = disable_sigint(() -> forward_output(k, cap, pending))
        catch e
            log_error("publishing $(cap.name)", e, catch_backtrace())
            pending = UInt8[]
        end
    end
end

function start_pump(k, cap::StreamCapture)
    @async try
        pump(k, cap)
    catch e
        log_error("$(cap.name) pump stopped", e, catch_backtrace())
    end
end

"Publish all output written so far (by Julia or C code) before returning."
function flush_streams(k)
    Libc.flush_cstdio()
    for cap in k.streams
        cap.markers_written += 1
        write(cap.writer, FLUSH_MARKER)
    end
    for cap in k.streams
        while cap.markers_read < cap.markers_written
            wait(cap.marker_read)
        end
    end
end
