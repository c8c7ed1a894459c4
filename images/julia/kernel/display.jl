# Rich output: MIME bundles for execute_result and inspect_reply, and `display(x)` as display_data.

# Like the REPL: long arrays elided, no ANSI colours.
const TEXT_CONTEXT = IOContext(devnull, :limit => true, :color => false)

# MIME types offered besides text/plain when a value can show itself that way.
const RICH_MIMES = [MIME("text/html"), MIME("text/markdown"), MIME("text/latex"), MIME("image/svg+xml"),
                    MIME("image/png"), MIME("image/jpeg")]

render(m::MIME, x) = (r = repr(m, x; context=TEXT_CONTEXT); r isa Vector{UInt8} ? base64encode(r) : r)

function mime_bundle(x)
    data = Dict{String,Any}("text/plain" => render(MIME("text/plain"), x))
    for m in RICH_MIMES
        showable(m, x) && (data[string(m)] = render(m, x))
    end
    return data
end

struct KernelDisplay <: AbstractDisplay
    kernel::Kernel
end

function publish_display(k, data::Dict{String,Any})
    flush_streams(k)  # keeps text printed before display(x) above it
    publish(k, "display_data", Dict("data" => data, "metadata" => Dict(), "transient" => Dict()))
end

Base.display(d::KernelDisplay, x) = publish_display(d.kernel, mime_bundle(x))

function Base.display(d::KernelDisplay, m::MIME, x)
    data = Dict{String,Any}(string(m) => render(m, x))
    haskey(data, "text/plain") || (data["text/plain"] = render(MIME("text/plain"), x))
    publish_display(d.kernel, data)
end

"""
    BeakerJuliaKernel.clear_output(wait=false)

Clear the output shown for the running cell, as `IJulia.clear_output` does; with `wait=true` the front end
clears it only when new output arrives (for animations without flicker).
"""
function clear_output(wait::Bool=false)
    k = RUNNING[]
    flush_streams(k)  # output printed before the call is cleared too
    publish(k, "clear_output", Dict("wait" => wait))
end
