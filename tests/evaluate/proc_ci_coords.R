# Reference figures from R's pROC for tests/evaluate/test_stats_proc_ci_coords.py: ci.se, ci.sp,
# ci.thresholds, ci.coords, also at x = "best" (stratified bootstrap, boot.n = 4000).
# Usage: Rscript proc_ci_coords.R DATA_DIR OUT_FILE ; DATA_DIR/index.csv lists <name>.csv files (y, s);
# aSAH's s100b is written first as asah_s100b.csv.
suppressPackageStartupMessages(library(pROC))
args <- commandArgs(trailingOnly = TRUE)
data_dir <- args[1]
out_file <- args[2]
data(aSAH)
write.csv(data.frame(y = as.integer(aSAH$outcome == "Poor"), s = aSAH$s100b), file.path(data_dir, "asah_s100b.csv"),
          row.names = FALSE)
index <- read.csv(file.path(data_dir, "index.csv"), stringsAsFactors = FALSE)
fmt <- function(x) paste(sprintf("%.17g", as.numeric(x)), collapse = ";")
lines <- character(0)
put <- function(name, key, x) lines <<- c(lines, paste(name, key, fmt(x), sep = "\t"))
set.seed(20240609)
B <- 4000
for (name in index$name) {
  d <- read.csv(file.path(data_dir, paste0(name, ".csv")))
  r <- roc(d$y, d$s, levels = c(0, 1), direction = "<", quiet = TRUE)
  cse <- ci.se(r, specificities = c(0.5, 0.8, 0.9), boot.n = B)
  put(name, "ci_se", t(cse))  # column-major: per specificity lower, median, upper
  csp <- ci.sp(r, sensitivities = c(0.5, 0.8, 0.9), boot.n = B)
  put(name, "ci_sp", t(csp))
  thr <- quantile(d$s, c(0.3, 0.6), names = FALSE)
  put(name, "thr", thr)
  ct <- ci.thresholds(r, thresholds = thr, boot.n = B)
  put(name, "thr_sp", t(ct$specificity))
  put(name, "thr_se", t(ct$sensitivity))
  cc <- ci.coords(r, x = 0.9, input = "specificity", ret = c("ppv", "npv", "accuracy"), boot.n = B)
  put(name, "cc_ppv", cc$ppv)
  put(name, "cc_npv", cc$npv)
  put(name, "cc_accuracy", cc$accuracy)
  best_ret <- c("threshold", "sensitivity", "specificity", "ppv", "npv")
  for (spec in list(list("yd", "youden", c(1, 0.5)), list("tl", "closest.topleft", c(2, 0.3)))) {
    cb <- ci.coords(r, x = "best", best.method = spec[[2]], best.weights = spec[[3]], best.policy = "random",
                    ret = best_ret, boot.n = B)
    for (k in best_ret) put(name, paste0("best_", spec[[1]], "_", k), cb[[k]])
    pt <- coords(r, "best", best.method = spec[[2]], best.weights = spec[[3]], ret = best_ret, transpose = FALSE)
    put(name, paste0("bestpt_", spec[[1]]), t(as.matrix(pt)))  # row-major: one row per tied best point
  }
}
writeLines(lines, out_file)
