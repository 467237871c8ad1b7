# Reference figures from R's pROC for tests/evaluate/test_stats_proc_smooth.py: roc.test (bootstrap) and
# ci.auc (bootstrap) of smoothed ROC curves (smooth.roc, binormal and density), boot.n = 2000.
# Usage: Rscript proc_smooth.R DATA_DIR OUT_FILE ; DATA_DIR holds gen.csv (y, s1, s2) and gen_b.csv (y, s);
# this script first writes pROC's aSAH data as asah.csv (y, s100b, ndka) for the Python side.
# Writes name<TAB>key<TAB>v1;v2;... with 17 significant digits.
suppressPackageStartupMessages(library(pROC))
args <- commandArgs(trailingOnly = TRUE)
data_dir <- args[1]
out_file <- args[2]
data(aSAH)
asah <- data.frame(y = as.integer(aSAH$outcome == "Poor"), s100b = aSAH$s100b, ndka = aSAH$ndka)
write.csv(asah, file.path(data_dir, "asah.csv"), row.names = FALSE)
gen <- read.csv(file.path(data_dir, "gen.csv"))
gen_b <- read.csv(file.path(data_dir, "gen_b.csv"))
fmt <- function(x) paste(sprintf("%.17g", as.numeric(x)), collapse = ";")
lines <- character(0)
put <- function(name, key, x) lines <<- c(lines, paste(name, key, fmt(x), sep = "\t"))
curve <- function(y, s) roc(y, s, levels = c(0, 1), direction = "<", quiet = TRUE)
set.seed(20240611)
B <- 2000
tests <- list(
  list("asah_binormal", curve(asah$y, asah$s100b), curve(asah$y, asah$ndka), "binormal", TRUE),
  list("asah_density", curve(asah$y, asah$s100b), curve(asah$y, asah$ndka), "density", TRUE),
  list("gen_paired_binormal", curve(gen$y, gen$s1), curve(gen$y, gen$s2), "binormal", TRUE),
  list("gen_unpaired_binormal", curve(gen$y, gen$s1), curve(gen_b$y, gen_b$s), "binormal", FALSE)
)
for (tt in tests) {
  rt <- roc.test(smooth(tt[[2]], method = tt[[4]]), smooth(tt[[3]], method = tt[[4]]), method = "bootstrap",
                 paired = tt[[5]], boot.n = B)
  put(tt[[1]], "D", rt$statistic)
  put(tt[[1]], "estimates", rt$estimate)
}
cis <- list(
  list("asah_binormal", curve(asah$y, asah$s100b), "binormal"),
  list("asah_density", curve(asah$y, asah$s100b), "density"),
  list("gen_binormal", curve(gen$y, gen$s1), "binormal")
)
for (cc in cis) {
  sm <- smooth(cc[[2]], method = cc[[3]])
  put(cc[[1]], "ci", ci.auc(sm, boot.n = B))
  put(cc[[1]], "auc", auc(sm))
}
writeLines(lines, out_file)
