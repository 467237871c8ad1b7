# Reference figures from R's pROC for tests/evaluate/test_stats_proc_roc_test.py: roc.test with
# methods bootstrap (full and partial AUC), venkatraman, sensitivity and specificity, paired and unpaired.
# Usage: Rscript proc_roc_test.R DATA_DIR OUT_FILE
# DATA_DIR holds index.csv (name, paired) and <name>_1.csv, <name>_2.csv (columns y, s); this script
# first writes pROC's aSAH data as asah_<marker>.csv (columns y, s) for the Python side.
# Writes name<TAB>key<TAB>v1;v2;... with 17 significant digits.
suppressPackageStartupMessages(library(pROC))
args <- commandArgs(trailingOnly = TRUE)
data_dir <- args[1]
out_file <- args[2]
data(aSAH)
y <- as.integer(aSAH$outcome == "Poor")
for (k in c("s100b", "ndka", "wfns")) {
  write.csv(data.frame(y = y, s = as.numeric(aSAH[[k]])), file.path(data_dir, paste0("asah_", k, ".csv")),
            row.names = FALSE)
}
index <- read.csv(file.path(data_dir, "index.csv"), stringsAsFactors = FALSE)
fmt <- function(x) paste(sprintf("%.17g", as.numeric(x)), collapse = ";")
lines <- character(0)
put <- function(name, key, x) lines <<- c(lines, paste(name, key, fmt(x), sep = "\t"))
set.seed(20240608)
B <- 2000
for (i in seq_len(nrow(index))) {
  name <- index$name[i]
  paired <- index$paired[i] == 1
  d1 <- read.csv(file.path(data_dir, index$file1[i]))
  d2 <- read.csv(file.path(data_dir, index$file2[i]))
  r1 <- roc(d1$y, d1$s, levels = c(0, 1), direction = "<", quiet = TRUE)
  r2 <- roc(d2$y, d2$s, levels = c(0, 1), direction = "<", quiet = TRUE)
  put(name, "boot_D", roc.test(r1, r2, method = "bootstrap", paired = paired, boot.n = B)$statistic)
  put(name, "boot_D_unstratified",
      roc.test(r1, r2, method = "bootstrap", paired = paired, boot.n = B, boot.stratified = FALSE)$statistic)
  p1 <- roc(d1$y, d1$s, levels = c(0, 1), direction = "<", quiet = TRUE, partial.auc = c(1, 0.8))
  p2 <- roc(d2$y, d2$s, levels = c(0, 1), direction = "<", quiet = TRUE, partial.auc = c(1, 0.8))
  put(name, "boot_D_pauc", roc.test(p1, p2, method = "bootstrap", paired = paired, boot.n = B)$statistic)
  v <- roc.test(r1, r2, method = "venkatraman", paired = paired, boot.n = B)
  put(name, "venk_E", v$statistic)
  put(name, "venk_p", v$p.value)
  put(name, "sp_D", roc.test(r1, r2, method = "specificity", specificity = 0.9, paired = paired, boot.n = B)$statistic)
  put(name, "se_D", roc.test(r1, r2, method = "sensitivity", sensitivity = 0.9, paired = paired, boot.n = B)$statistic)
  for (k in 1:2) {
    r <- if (k == 1) r1 else r2
    put(name, paste0("se_at_sp_", k), coords(r, 0.9, input = "specificity", ret = "sensitivity", transpose = FALSE)[1, 1])
    put(name, paste0("sp_at_se_", k), coords(r, 0.9, input = "sensitivity", ret = "specificity", transpose = FALSE)[1, 1])
  }
}
writeLines(lines, out_file)
