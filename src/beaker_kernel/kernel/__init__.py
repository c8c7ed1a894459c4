"""The Beaker kernel process.

One module per job (see :mod:`.app` for how they fit together):

=====================  ==================================================================
:mod:`.app`            settings and the composition root (:class:`BeakerKernelApp`)
:mod:`.frontend`       the sockets front ends connect to; everything sent on them
:mod:`.router`         dispatch of front-end messages: handlers, interceptors, forwarding
:mod:`.handlers`       the table of requests Beaker answers itself
:mod:`.interception`   contexts changing standard messages on the fly
:mod:`.link`           the sockets to one subkernel
:mod:`.relay`          what the subkernel sends, relayed to the front end
:mod:`.passthrough`    a local subkernel's iopub relayed in C while Beaker need not see it
:mod:`.pump`           reading a socket straight from the event loop (the hot path)
:mod:`.supervisor`     starting, changing and restarting the subkernel
:mod:`.launchers`      starting subkernel processes (locally or through the service)
:mod:`.executor`       Beaker's own executions in the subkernel
:mod:`.post_execute`   work after user cells, off the critical path
:mod:`.pending`        forwarded requests awaiting their replies
:mod:`.context_switch` context set-up messages
:mod:`.agent_requests` agent messages
:mod:`.services`       the kernel contexts and agents see (``BeakerKernel``)
:mod:`.magics`         ``%set_context`` and ``%run_action``
:mod:`.notebook_items` ``notebook_item`` metadata copied onto ``execute_input``
=====================  ==================================================================
"""

from __future__ import annotations

from .app import BeakerKernelApp, main
from .services import BeakerKernel, LLMKernel

__all__ = ["BeakerKernel", "BeakerKernelApp", "LLMKernel", "main"]
