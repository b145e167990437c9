#!/usr/bin/env python3
"""Writes nn_mlx.safetensors: MLX's nn layers, losses and gradients, for client/nn/mlx_test.cc.

Run from the repository root with mlx==0.32.4 (CPU wheel: pip install 'mlx[cpu]==0.32.4'):
  python3 client/nn/testdata/nn_mlx.py

Arrays, by name prefix:
  net.*, encoder.*, conv2d.*,  the weights of MLX models, named as save_weights names them
  convnet.*, qsrc.*, mx.*,     (qsrc.* and mx.* before nn.quantize; qnet.* and mxq.* after)
  transformer.*, tconv1.*, tconv2.*, tconv3.*, conv3.*, inorm.*, bilinear.*
  in.*                         their inputs
  out.*                        what the models computed from them (eval mode, but
                               out.convnet_train; after.* the running statistics it left)
  grad.net.*                   nn.value_and_grad of the net's mean cross-entropy, by parameter
  loss.*                       losses of fixed inputs (loss.in.* holds those inputs)
  act.*                        each activation of in.act
  upsample.*                   nn.Upsample of in.upsample, by mode, scales and flags
  rnn.*, gru.*, lstm.*         recurrent layers' weights (out.rnn* their states over in.seq)
"""
import mlx.core as mx
import mlx.nn as nn
import numpy as np

mx.random.seed(20261207)
rng = np.random.default_rng(20261207)


class Net(nn.Module):
    """Every layer ferry::nn has, in one model."""

    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(11, 16)
        self.conv = nn.Conv1d(16, 16, 3, padding=1)
        self.norm = nn.LayerNorm(16)
        self.attention = nn.MultiHeadAttention(16, 4, bias=True)
        self.rms = nn.RMSNorm(16)
        self.mlp = nn.Sequential(nn.Linear(16, 32), nn.GELU(), nn.Dropout(0.5), nn.Linear(32, 5))

    def __call__(self, tokens, mask):
        h = self.embedding(tokens)
        h = h + self.conv(h)
        h = self.norm(h)
        h = h + self.attention(h, h, h, mask)
        return self.mlp(nn.silu(self.rms(h)))


arrays = {}


def put(prefix, tree):
    for name, value in tree:
        arrays[f"{prefix}{name}"] = value


def uniform(*shape):
    return mx.array(rng.uniform(-1, 1, shape).astype(np.float32))


net = Net()
net.eval()
tokens = mx.array(rng.integers(0, 11, (2, 7)).astype(np.int32))
targets = mx.array(rng.integers(0, 5, (2, 7)).astype(np.int32))
mask = nn.MultiHeadAttention.create_additive_causal_mask(7)
put("net.", nn.utils.tree_flatten(net.parameters()))
arrays["in.tokens"], arrays["in.targets"], arrays["in.mask"] = tokens, targets, mask
arrays["out.net"] = net(tokens, mask)


def net_loss(tokens, targets, mask):
    return nn.losses.cross_entropy(net(tokens, mask), targets, reduction="mean")


loss, grads = nn.value_and_grad(net, net_loss)(tokens, targets, mask)
arrays["out.net_loss"] = loss
put("grad.net.", nn.utils.tree_flatten(grads))

encoder = nn.TransformerEncoder(2, 16, 4, mlp_dims=24)
encoder.eval()
x = uniform(2, 5, 16)
put("encoder.", nn.utils.tree_flatten(encoder.parameters()))
arrays["in.encoder"] = x
arrays["out.encoder"] = encoder(x, nn.MultiHeadAttention.create_additive_causal_mask(5))
post_norm = nn.TransformerEncoderLayer(16, 4, mlp_dims=24, norm_first=False)
put("post_norm.", nn.utils.tree_flatten(post_norm.parameters()))
arrays["out.post_norm"] = post_norm(x, None)

conv2d = nn.Conv2d(3, 4, (3, 2), stride=(2, 1), padding=1, bias=True)
conv2d.bias = uniform(4)
image = uniform(2, 6, 5, 3)
put("conv2d.", nn.utils.tree_flatten(conv2d.parameters()))
arrays["in.image"] = image
arrays["out.conv2d"] = conv2d(image)

# Batch and group norms, pooling: one step in training mode, then evaluation.
convnet = nn.Sequential(
    nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm(8), nn.ReLU(), nn.MaxPool2d(2),
    nn.GroupNorm(2, 8), nn.AvgPool2d(2, stride=1), nn.GroupNorm(4, 8, pytorch_compatible=True))
convnet.layers[4].weight = uniform(8)
convnet.layers[6].bias = uniform(8)
put("convnet.", nn.utils.tree_flatten(convnet.parameters()))
images = uniform(3, 8, 6, 3)
arrays["in.images"] = images
arrays["out.convnet_train"] = convnet(images)
arrays["after.convnet.running_mean"] = convnet.layers[1].running_mean
arrays["after.convnet.running_var"] = convnet.layers[1].running_var
convnet.eval()
arrays["out.convnet_eval"] = convnet(images)

rope_input = uniform(1, 2, 5, 16)
arrays["in.rope"] = rope_input
arrays["out.rope"] = nn.RoPE(8)(rope_input, offset=3)
arrays["out.rope_traditional"] = nn.RoPE(16, traditional=True, base=500, scale=0.5)(rope_input)

# Quantized layers: float weights (qsrc.*), what nn.quantize made of them (qnet.*), outputs.
qnet = nn.Sequential(nn.Embedding(16, 64), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 8))
put("qsrc.", nn.utils.tree_flatten(qnet.parameters()))
nn.quantize(qnet, group_size=32, bits=4)
put("qnet.", nn.utils.tree_flatten(qnet.parameters()))
qtokens = mx.array(rng.integers(0, 16, (2, 5)).astype(np.int32))
arrays["in.qtokens"] = qtokens
arrays["out.qnet"] = qnet(qtokens)
arrays["in.qtied"] = uniform(3, 64)
arrays["out.qnet_tied"] = qnet.layers[0].as_linear(arrays["in.qtied"])
mxnet = nn.Sequential(nn.Linear(64, 16, bias=False))
put("mx.", nn.utils.tree_flatten(mxnet.parameters()))
nn.quantize(mxnet, mode="mxfp4")
put("mxq.", nn.utils.tree_flatten(mxnet.parameters()))
arrays["in.mx"] = uniform(4, 64)
arrays["out.mxq"] = mxnet(arrays["in.mx"])

# Losses, each with MLX's default reduction and with "none".
logits = uniform(4, 6) * 3
classes = mx.array(rng.integers(0, 6, (4,)).astype(np.int32))
probabilities = mx.softmax(uniform(4, 6), axis=-1)
predictions, truth = uniform(3, 5), uniform(3, 5)
binary = mx.array(rng.integers(0, 2, (3, 5)).astype(np.float32))
weights = mx.abs(uniform(4))
for name, value in {"logits": logits, "classes": classes, "probabilities": probabilities,
                    "predictions": predictions, "truth": truth, "binary": binary,
                    "weights": weights}.items():
    arrays[f"loss.in.{name}"] = value
losses = nn.losses
arrays["loss.cross_entropy"] = losses.cross_entropy(logits, classes)
arrays["loss.cross_entropy_probs"] = losses.cross_entropy(logits, probabilities)
arrays["loss.cross_entropy_smoothed_mean"] = losses.cross_entropy(
    logits, classes, weights=weights, label_smoothing=0.1, reduction="mean")
arrays["loss.binary_cross_entropy"] = losses.binary_cross_entropy(predictions * 4, binary)
arrays["loss.binary_cross_entropy_probs_none"] = losses.binary_cross_entropy(
    mx.sigmoid(predictions * 4), binary, with_logits=False, reduction="none")
arrays["loss.l1"] = losses.l1_loss(predictions, truth)
arrays["loss.mse_sum"] = losses.mse_loss(predictions, truth, reduction="sum")
arrays["loss.nll"] = losses.nll_loss(mx.log(probabilities), classes)
arrays["loss.kl_div"] = losses.kl_div_loss(mx.log(probabilities), nn.log_softmax(logits, -1))
arrays["loss.smooth_l1"] = losses.smooth_l1_loss(predictions, truth, beta=0.5)
arrays["loss.huber"] = losses.huber_loss(predictions, truth, delta=0.5)
arrays["loss.hinge"] = losses.hinge_loss(predictions, binary * 2 - 1)
arrays["loss.log_cosh"] = losses.log_cosh_loss(predictions, truth)
arrays["loss.cosine_similarity"] = losses.cosine_similarity_loss(predictions, truth)
arrays["loss.gaussian_nll"] = losses.gaussian_nll_loss(predictions, truth, mx.abs(truth) + 0.1)

# Recurrent layers over a batch of sequences, from zero and from a given state.
seq, h0, c0 = uniform(2, 4, 3), uniform(2, 5), uniform(2, 5)
arrays["in.seq"], arrays["in.h0"], arrays["in.c0"] = seq, h0, c0
rnn, gru, lstm = nn.RNN(3, 5), nn.GRU(3, 5), nn.LSTM(3, 5)
put("rnn.", nn.utils.tree_flatten(rnn.parameters()))
put("gru.", nn.utils.tree_flatten(gru.parameters()))
put("lstm.", nn.utils.tree_flatten(lstm.parameters()))
arrays["out.rnn"], arrays["out.rnn_h0"] = rnn(seq), rnn(seq, h0)
arrays["out.gru"], arrays["out.gru_h0"] = gru(seq), gru(seq, h0)
arrays["out.lstm_h"], arrays["out.lstm_c"] = lstm(seq)
arrays["out.lstm_h0_h"], arrays["out.lstm_h0_c"] = lstm(seq, h0, c0)
arrays["out.gru_unbatched"] = gru(seq[0])

# Upsampling, every mode.
up_in = uniform(2, 5, 4, 3)
arrays["in.upsample"] = up_in
upsamples = {
    "nearest_2": nn.Upsample(2.0), "nearest_frac": nn.Upsample((1.5, 0.6)),
    "linear_2": nn.Upsample(2.0, "linear"), "linear_aligned": nn.Upsample((1.4, 2.0), "linear", True),
    "cubic_frac": nn.Upsample(1.5, "cubic"), "cubic_aligned": nn.Upsample(2.0, "cubic", True),
    "linear_antialias": nn.Upsample(0.5, "linear", antialias=True),
    "cubic_antialias": nn.Upsample((0.6, 0.5), "cubic", antialias=True),
}
for name, layer in upsamples.items():
    arrays[f"upsample.{name}"] = layer(up_in)

# The encoder-decoder Transformer, transposed and 3-D convolutions, instance norm.
transformer = nn.Transformer(16, 4, 2, 1, 24)
transformer.eval()
put("transformer.", nn.utils.tree_flatten(transformer.parameters()))
src, tgt = uniform(2, 5, 16), uniform(2, 4, 16)
arrays["in.src"], arrays["in.tgt"] = src, tgt
arrays["out.transformer"] = transformer(
    src, tgt, None, nn.MultiHeadAttention.create_additive_causal_mask(4), None)
tconv1 = nn.ConvTranspose1d(3, 4, 3, stride=2, padding=1, output_padding=1)
tconv1.bias = uniform(4)
tconv2 = nn.ConvTranspose2d(3, 2, (3, 2), stride=(2, 1), padding=(1, 0), dilation=(1, 2))
conv3 = nn.Conv3d(2, 4, (2, 3, 2), stride=(1, 2, 1), padding=1)
inorm = nn.InstanceNorm(3, affine=True)
inorm.weight, inorm.bias = uniform(3), uniform(3)
for name, layer in (("tconv1", tconv1), ("tconv2", tconv2), ("conv3", conv3), ("inorm", inorm)):
    put(f"{name}.", nn.utils.tree_flatten(layer.parameters()))
arrays["in.tconv1"], arrays["in.tconv2"] = uniform(2, 5, 3), uniform(2, 4, 5, 3)
arrays["in.conv3"] = uniform(1, 4, 5, 3, 2)
arrays["out.tconv1"] = tconv1(arrays["in.tconv1"])
arrays["out.tconv2"] = tconv2(arrays["in.tconv2"])
arrays["out.conv3"] = conv3(arrays["in.conv3"])
arrays["out.inorm"] = inorm(arrays["in.tconv2"])
tconv3 = nn.ConvTranspose3d(2, 3, (2, 2, 3), stride=(2, 1, 1), padding=(0, 1, 1))
put("tconv3.", nn.utils.tree_flatten(tconv3.parameters()))
arrays["out.tconv3"] = tconv3(arrays["in.conv3"])
arrays["out.maxpool3"] = nn.MaxPool3d(2, stride=1, padding=1)(arrays["in.conv3"])
arrays["out.avgpool3"] = nn.AvgPool3d(2)(arrays["in.conv3"])

# Positional encodings, ALiBi, Bilinear.
positions = mx.arange(5).astype(mx.float32) * 3
arrays["in.positions"] = positions
arrays["out.sinusoidal"] = nn.SinusoidalPositionalEncoding(8)(positions)
arrays["out.sinusoidal_cos"] = nn.SinusoidalPositionalEncoding(
    6, min_freq=0.01, max_freq=2, scale=1.0, cos_first=True, full_turns=True)(positions)
scores = uniform(2, 6, 3, 5)
arrays["in.scores"] = scores
arrays["out.alibi"] = nn.ALiBi()(scores)
alibi_mask = uniform(3, 5)
arrays["in.alibi_mask"] = alibi_mask
arrays["out.alibi_offset"] = nn.ALiBi()(scores, offset=2, mask=alibi_mask)
bilinear = nn.Bilinear(3, 4, 2)
put("bilinear.", nn.utils.tree_flatten(bilinear.parameters()))
arrays["in.x1"], arrays["in.x2"] = uniform(2, 3, 3), uniform(2, 3, 4)
arrays["out.bilinear"] = bilinear(arrays["in.x1"], arrays["in.x2"])

# Activations of one input, each as MLX's function or layer computes it.
act_in = uniform(3, 8) * 4
arrays["in.act"] = act_in
activations = {
    "relu2": nn.relu2, "relu6": nn.relu6, "leaky_relu": lambda x: nn.leaky_relu(x, 0.2),
    "log_softmax": nn.log_softmax, "elu": lambda x: nn.elu(x, 0.5), "selu": nn.selu,
    "celu": lambda x: nn.celu(x, 2.0), "softsign": nn.softsign, "softshrink": nn.softshrink,
    "hard_shrink": nn.hard_shrink, "hard_tanh": lambda x: nn.hard_tanh(x, -2, 1.5),
    "hardswish": nn.hardswish, "log_sigmoid": nn.log_sigmoid, "mish": nn.mish,
    "gelu_approx": nn.gelu_approx, "gelu_fast_approx": nn.gelu_fast_approx, "glu": nn.glu,
    "step": lambda x: nn.step(x, 0.5), "softmin": nn.softmin,
    "prelu": nn.PReLU(8, 0.1), "gelu_tanh": nn.GELU("tanh"),
}
for name, f in activations.items():
    arrays[f"act.{name}"] = f(act_in)

mx.save_safetensors("client/nn/testdata/nn_mlx.safetensors", arrays)
print(len(arrays), "arrays")
