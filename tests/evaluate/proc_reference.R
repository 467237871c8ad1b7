# Reference figures from R's pROC for tests/evaluate/test_stats_vs_proc.py.
# Usage: Rscript proc_reference.R DATA_DIR OUT_FILE
# DATA_DIR holds index.csv (name, direction, partner) and one <name>.csv per data
# set (columns y, s1, s2). Writes one line per figure: name<TAB>key<TAB>v1;v2;...
# with every number printed to 17 significant digits.
suppressPackageStartupMessages(library(pROC))
args <- commandArgs(trailingOnly = TRUE)
data_dir <- args[1]
out_file <- args[2]
index <- read.csv(file.path(data_dir, "index.csv"), stringsAsFactors = FALSE)
fmt <- function(x) paste(sprintf("%.17g", as.numeric(x)), collapse = ";")
lines <- character(0)
put <- function(name, key, x) lines <<- c(lines, paste(name, key, fmt(x), sep = "\t"))
rocs <- list()
for (i in seq_len(nrow(index))) {
  name <- index$name[i]
  d <- read.csv(file.path(data_dir, paste0(name, ".csv")))
  dir <- index$direction[i]
  r1 <- roc(d$y, d$s1, levels = c(0, 1), direction = dir, quiet = TRUE)
  r2 <- roc(d$y, d$s2, levels = c(0, 1), direction = dir, quiet = TRUE)
  rocs[[name]] <- r1
  put(name, "auc", auc(r1))
  put(name, "thresholds", r1$thresholds)
  put(name, "sensitivities", r1$sensitivities)
  put(name, "specificities", r1$specificities)
  put(name, "var_delong", var(r1, method = "delong"))
  put(name, "ci_delong", ci.auc(r1, method = "delong"))
  put(name, "ci_delong_90", ci.auc(r1, method = "delong", conf.level = 0.9))
  b <- coords(r1, "best", best.method = "youden", ret = c("threshold", "sensitivity", "specificity"), transpose = FALSE)
  put(name, "best_threshold", b$threshold)
  put(name, "best_sensitivity", b$sensitivity)
  put(name, "best_specificity", b$specificity)
  for (sp in c(0.8, 0.9)) {
    x <- coords(r1, sp, input = "specificity", ret = c("sensitivity", "specificity"), transpose = FALSE)
    put(name, paste0("se_at_sp_", sp), x$sensitivity)
  }
  x <- coords(r1, 0.9, input = "sensitivity", ret = c("sensitivity", "specificity"), transpose = FALSE)
  put(name, "sp_at_se_0.9", x$specificity)
  if (index$paired_test[i] == 1) {
    t <- roc.test(r1, r2, method = "delong", paired = TRUE)
    put(name, "paired_z", t$statistic)
    put(name, "paired_p", t$p.value)
    put(name, "paired_ci", t$conf.int)
    put(name, "paired_p_greater", roc.test(r1, r2, method = "delong", paired = TRUE, alternative = "greater")$p.value)
    put(name, "paired_p_less", roc.test(r1, r2, method = "delong", paired = TRUE, alternative = "less")$p.value)
  }
}
for (i in seq_len(nrow(index))) {
  partner <- index$partner[i]
  if (!is.na(partner) && nchar(partner) > 0) {
    name <- index$name[i]
    t <- roc.test(rocs[[name]], rocs[[partner]], method = "delong", paired = FALSE)
    put(name, "unpaired_d", t$statistic)
    put(name, "unpaired_df", t$parameter)
    put(name, "unpaired_p", t$p.value)
  }
}
writeLines(lines, out_file)
