"""The desktop window: thin Qt widgets over the pipeline's ``Controller``.

Qt stays in this package. ``bridge.ControllerBridge`` turns controller events (delivered on worker
threads) into Qt signals on the GUI thread; widgets call controller methods and listen to the bridge,
and hold no pipeline state of their own. ``app.run_gui`` is the entry point.
"""
