"""The Beaker service: a Jupyter Server extension (``beaker serve``).

The extension app is :class:`.app.BeakerServiceApp`; importing this package imports
nothing from Jupyter Server.
"""
