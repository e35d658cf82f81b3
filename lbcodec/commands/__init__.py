"""One module per `lbcodec` subcommand (Click commands, thin over the library)."""
