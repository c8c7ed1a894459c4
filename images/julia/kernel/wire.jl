# Jupyter wire format (messaging protocol 5.3): framing, HMAC-SHA256 signing and verification.
#
#   [identity..., "<IDS|MSG>", signature, header, parent_header, metadata, content, buffers...]
#
# Replies go back with exactly the identity frames their request came with: when a proxy such as Beaker sits
# between the client and this kernel, a request carries one identity frame per ROUTER hop, and all of them
# are needed to route the reply.

const PROTOCOL_VERSION = "5.3"
const DELIMITER = Vector{UInt8}("<IDS|MSG>")
const EMPTY_DICT = Vector{UInt8}("{}")

struct Session
    key::Vector{UInt8}
    id::String
end

struct Message
    identities::Vector{Vector{UInt8}}
    header::Dict{String,Any}
    header_bytes::Vector{UInt8}  # sent back verbatim as the parent_header of everything this request causes
    content::Dict{String,Any}
end

msg_type(m::Message) = m.header["msg_type"]::String

function signature(session::Session, parts::Vector{UInt8}...)
    isempty(session.key) && return ""
    return bytes2hex(hmac_sha256(session.key, vcat(parts...)))
end

# Compares every byte, so the time taken does not reveal how much of a forged signature was right.
function signatures_equal(a::AbstractString, b::AbstractString)
    ncodeunits(a) == ncodeunits(b) || return false
    diff = 0x00
    for i in 1:ncodeunits(a)
        diff |= codeunit(a, i) ⊻ codeunit(b, i)
    end
    return diff == 0x00
end

struct InvalidMessage <: Exception
    msg::String
end
Base.showerror(io::IO, e::InvalidMessage) = print(io, "InvalidMessage: ", e.msg)

function decode(session::Session, frames::Vector{Vector{UInt8}})
    d = findfirst(==(DELIMITER), frames)
    d === nothing && throw(InvalidMessage("no <IDS|MSG> delimiter"))
    length(frames) >= d + 5 || throw(InvalidMessage("only $(length(frames) - d) frames after the delimiter"))
    header, parent, metadata, content = frames[d+2:d+5]
    expected = signature(session, header, parent, metadata, content)
    signatures_equal(String(copy(frames[d+1])), expected) || throw(InvalidMessage("bad signature"))
    return Message(frames[1:d-1], parse_json(header), header, parse_json(content))
end

iso_now() = Dates.format(Dates.now(Dates.UTC), "yyyy-mm-ddTHH:MM:SS.sss") * "Z"

"""
Send `content` as a `msg_type` message on `socket`. `parent` (the request being answered or reported on) gives
the parent_header; `identities` the routing frames (for iopub, a topic).
"""
function send_message(socket::Socket, session::Session, msg_type::AbstractString, content;
                      parent::Union{Message,Nothing}=nothing,
                      identities::Vector{Vector{UInt8}}=parent === nothing ? Vector{UInt8}[] : parent.identities)
    header = Vector{UInt8}(json(Dict(
        "msg_id" => string(uuid4()),
        "session" => session.id,
        "username" => "beaker",
        "date" => iso_now(),
        "msg_type" => msg_type,
        "version" => PROTOCOL_VERSION,
    )))
    parent_header = parent === nothing ? EMPTY_DICT : parent.header_bytes
    body = Vector{UInt8}(json(content))
    sig = Vector{UInt8}(signature(session, header, parent_header, EMPTY_DICT, body))
    frames = [identities; [DELIMITER, sig, header, parent_header, EMPTY_DICT, body]]
    # A SIGINT landing between two frames would leave a half-sent message on the socket.
    disable_sigint(() -> send_multipart(socket, frames))
end
