# A small JSON reader and writer: the kernel may only use Julia's standard library, which has none.
# Reads objects as Dict{String,Any}, arrays as Vector{Any}, integers as Int64 (Float64 when they overflow or
# have a fraction/exponent). Writes dicts, named tuples, vectors, tuples, strings, symbols, numbers, booleans
# and `nothing`.
module JSON

export parse_json, json

struct JSONError <: Exception
    msg::String
end
Base.showerror(io::IO, e::JSONError) = print(io, "JSONError: ", e.msg)

mutable struct Reader
    s::String
    i::Int
end

parse_json(text::AbstractString) = parse_json(Vector{UInt8}(text))

function parse_json(bytes::Vector{UInt8})
    r = Reader(String(copy(bytes)), 1)
    value = read_value(r)
    skip_space(r)
    r.i <= ncodeunits(r.s) && throw(JSONError("unexpected trailing data at byte $(r.i)"))
    return value
end

peek_byte(r::Reader) = r.i <= ncodeunits(r.s) ? codeunit(r.s, r.i) : 0x00

function skip_space(r::Reader)
    while r.i <= ncodeunits(r.s) && codeunit(r.s, r.i) in (0x20, 0x09, 0x0a, 0x0d)
        r.i += 1
    end
end

function expect(r::Reader, b::UInt8)
    skip_space(r)
    peek_byte(r) == b || throw(JSONError("expected '$(Char(b))' at byte $(r.i)"))
    r.i += 1
end

function read_value(r::Reader)
    skip_space(r)
    b = peek_byte(r)
    b == UInt8('{') && return read_object(r)
    b == UInt8('[') && return read_array(r)
    b == UInt8('"') && return read_string(r)
    (b == UInt8('-') || UInt8('0') <= b <= UInt8('9')) && return read_number(r)
    for (word, value) in (("true", true), ("false", false), ("null", nothing))
        if startswith(SubString(r.s, r.i), word)
            r.i += length(word)
            return value
        end
    end
    throw(JSONError("unexpected input at byte $(r.i)"))
end

function read_object(r::Reader)
    expect(r, UInt8('{'))
    obj = Dict{String,Any}()
    skip_space(r)
    if peek_byte(r) == UInt8('}')
        r.i += 1
        return obj
    end
    while true
        skip_space(r)
        key = read_string(r)
        expect(r, UInt8(':'))
        obj[key] = read_value(r)
        skip_space(r)
        b = peek_byte(r)
        r.i += 1
        b == UInt8('}') && return obj
        b == UInt8(',') || throw(JSONError("expected ',' or '}' at byte $(r.i - 1)"))
    end
end

function read_array(r::Reader)
    expect(r, UInt8('['))
    arr = Any[]
    skip_space(r)
    if peek_byte(r) == UInt8(']')
        r.i += 1
        return arr
    end
    while true
        push!(arr, read_value(r))
        skip_space(r)
        b = peek_byte(r)
        r.i += 1
        b == UInt8(']') && return arr
        b == UInt8(',') || throw(JSONError("expected ',' or ']' at byte $(r.i - 1)"))
    end
end

function read_hex4(r::Reader)
    r.i + 3 <= ncodeunits(r.s) || throw(JSONError("truncated \\u escape at byte $(r.i)"))
    v = tryparse(UInt16, SubString(r.s, r.i, r.i + 3); base=16)
    v === nothing && throw(JSONError("bad \\u escape at byte $(r.i)"))
    r.i += 4
    return v
end

const ESCAPES = Dict(UInt8('"') => '"', UInt8('\\') => '\\', UInt8('/') => '/', UInt8('b') => '\b',
                     UInt8('f') => '\f', UInt8('n') => '\n', UInt8('r') => '\r', UInt8('t') => '\t')

function read_string(r::Reader)
    peek_byte(r) == UInt8('"') || throw(JSONError("expected a string at byte $(r.i)"))
    r.i += 1
    out = IOBuffer()
    n = ncodeunits(r.s)
    while true
        r.i > n && throw(JSONError("unterminated string"))
        b = codeunit(r.s, r.i)
        if b == UInt8('"')
            r.i += 1
            return String(take!(out))
        elseif b == UInt8('\\')
            r.i += 1
            e = peek_byte(r)
            r.i += 1
            if e == UInt8('u')
                write(out, read_codepoint(r))
            else
                c = get(ESCAPES, e, nothing)
                c === nothing && throw(JSONError("bad escape at byte $(r.i - 1)"))
                write(out, c)
            end
        else
            write(out, b)
            r.i += 1
        end
    end
end

# \uXXXX, combining UTF-16 surrogate pairs; a lone surrogate becomes U+FFFD.
function read_codepoint(r::Reader)
    hi = read_hex4(r)
    0xd800 <= hi <= 0xdbff || return 0xdc00 <= hi <= 0xdfff ? '\ufffd' : Char(hi)
    if startswith(SubString(r.s, r.i), "\\u")
        save = r.i
        r.i += 2
        lo = read_hex4(r)
        0xdc00 <= lo <= 0xdfff && return Char(0x10000 + ((UInt32(hi) - 0xd800) << 10) + (lo - 0xdc00))
        r.i = save
    end
    return '\ufffd'
end

function read_number(r::Reader)
    start = r.i
    isfloat = false
    while r.i <= ncodeunits(r.s)
        b = codeunit(r.s, r.i)
        if b in (UInt8('.'), UInt8('e'), UInt8('E'))
            isfloat = true
        elseif !(b in (UInt8('-'), UInt8('+')) || UInt8('0') <= b <= UInt8('9'))
            break
        end
        r.i += 1
    end
    text = SubString(r.s, start, r.i - 1)
    v = isfloat ? nothing : tryparse(Int64, text)
    v === nothing && (v = tryparse(Float64, text))
    v === nothing && throw(JSONError("bad number '$text' at byte $start"))
    return v
end

json(x) = sprint(write_json, x)

write_json(io::IO, ::Nothing) = print(io, "null")
write_json(io::IO, x::Bool) = print(io, x ? "true" : "false")
write_json(io::IO, x::Integer) = print(io, x)
# JSON has no NaN or infinities; Float64 keeps Float32 etc. from printing Julia-only suffixes like 1.0f0.
write_json(io::IO, x::AbstractFloat) = isfinite(x) ? print(io, Float64(x)) : print(io, "null")
write_json(io::IO, x::Symbol) = write_json(io, String(x))

function write_json(io::IO, x::AbstractDict)
    print(io, '{')
    first = true
    for (k, v) in x
        first || print(io, ',')
        first = false
        write_json(io, string(k))
        print(io, ':')
        write_json(io, v)
    end
    print(io, '}')
end

write_json(io::IO, x::NamedTuple) = write_json(io, pairs(x))

function write_json(io::IO, x::Union{AbstractVector,Tuple})
    print(io, '[')
    for (i, v) in enumerate(x)
        i > 1 && print(io, ',')
        write_json(io, v)
    end
    print(io, ']')
end

# Escapes what JSON requires and replaces invalid UTF-8 (possible in captured program output) with U+FFFD,
# because Jupyter clients decode every frame strictly.
function write_json(io::IO, s::AbstractString)
    print(io, '"')
    for c in s
        if !isvalid(c)
            print(io, "\\ufffd")
        elseif c == '"'
            print(io, "\\\"")
        elseif c == '\\'
            print(io, "\\\\")
        elseif c == '\n'
            print(io, "\\n")
        elseif c == '\r'
            print(io, "\\r")
        elseif c == '\t'
            print(io, "\\t")
        elseif c < ' ' || c == '\x7f'
            print(io, "\\u", string(UInt32(c); base=16, pad=4))
        else
            print(io, c)
        end
    end
    print(io, '"')
end

end # module JSON
