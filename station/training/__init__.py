"""MLPerf Training power: MLLOG node and switch files (:mod:`.mllog`), the official energy
computation (:mod:`.energy`), where a published result's files are (:mod:`.result_dir`)."""
