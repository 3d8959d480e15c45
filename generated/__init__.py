"""Optimizer modules generated from specs by ``odyssey-codegen generate``;
do not edit by hand (CI checks they are fresh)."""

MODULES = {
    'adagrad': 'Adagrad',
    'adam': 'Adam',
    'adamw': 'AdamW',
    'lion': 'Lion',
    'rmsprop': 'RMSprop',
    'sgd': 'SGD',
}
