import SkbTracerCLI
SkbTracerMain.run()
